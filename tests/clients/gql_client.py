#!/usr/bin/env python3
"""Drives the server with Python `gql` 4 and its default transports.

    gql_client.py <http://127.0.0.1:PORT/graphql> <ws://127.0.0.1:PORT/graphql/ws> <token>

Fetches the schema over HTTP (the standard introspection query), runs a query and a mutation
with a 64-bit count, and subscribes over the websocket twice: with gql's default subprotocol
offer (legacy `graphql-ws` first) and with `graphql-transport-ws` only. Prints one JSON line;
exits 0 only when every step worked.
"""

import asyncio
import json
import sys

from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.websockets import WebsocketsTransport

FIVE_GIB = 5 * 1024 * 1024 * 1024


async def over_http(url, token, result):
    transport = AIOHTTPTransport(url=url, headers={"Authorization": f"Bearer {token}"})
    async with Client(transport=transport, fetch_schema_from_transport=True) as session:
        schema = session.client.schema
        result["schemaTypes"] = len(schema.type_map)
        result["longScalar"] = "Long" in schema.type_map
        me = await session.execute(GraphQLRequest("{ me { role } cameras { totalCount } }"))
        result["role"] = me["me"]["role"]
        created = await session.execute(
            GraphQLRequest(
                "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id storageQuotaBytes } }",
                variable_values={
                    "i": {
                        "name": "Python Cam",
                        "streamUrl": "rtsp://10.0.0.9/s",
                        "recordEnabled": False,
                        "storageQuotaBytes": FIVE_GIB,
                    }
                },
            )
        )
        result["quota"] = created["createCamera"]["storageQuotaBytes"]


async def subscribe(ws_url, token, subprotocols):
    transport = WebsocketsTransport(
        url=ws_url,
        init_payload={"authorization": f"Bearer {token}"},
        subprotocols=subprotocols,
    )
    ticks = []
    async with Client(transport=transport) as session:
        request = GraphQLRequest("subscription { serverClock(everyMs: 100, limit: 3) { at } }")
        async for message in session.subscribe(request):
            ticks.append(message["serverClock"]["at"])
        protocol = transport.subprotocol
    return {"subprotocol": protocol, "ticks": len(ticks)}


async def main():
    url, ws_url, token = sys.argv[1:4]
    result = {"ok": False}
    try:
        await over_http(url, token, result)
        result["defaultWs"] = await subscribe(ws_url, token, None)
        result["transportWs"] = await subscribe(
            ws_url, token, [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL]
        )
        result["ok"] = (
            result["longScalar"]
            and result["role"] == "ADMIN"
            and result["quota"] == FIVE_GIB
            and result["defaultWs"]["ticks"] == 3
            and result["transportWs"]["ticks"] == 3
        )
    except Exception as err:  # reported in the JSON line, with its type
        result["error"] = f"{type(err).__name__}: {err}"
    print(json.dumps(result))
    sys.exit(0 if result["ok"] else 1)


asyncio.run(main())
