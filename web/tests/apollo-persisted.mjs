#!/usr/bin/env node
// Apollo Client 4 with its persisted-query link against the server.
//
//   node web/tests/apollo-persisted.mjs <http://127.0.0.1:PORT/graphql> <access token>
//
// A first client sends only the hash, is told PERSISTED_QUERY_NOT_FOUND, falls back to
// sending the document and gets data; a second client (fresh cache) then gets data for the
// hash alone. Prints one JSON line with every request body seen; exit 0 only if so.
import { createHash } from 'node:crypto';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

const [uri, token] = process.argv.slice(2);
const seen = [];
const spyingFetch = async (input, init) => {
  seen.push(JSON.parse(init.body));
  return fetch(input, init);
};
const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const QUERY = gql`
  query WhoAmI {
    me {
      role
    }
    cameras(first: 1) {
      totalCount
    }
  }
`;

function client() {
  const link = new PersistedQueryLink({ sha256 }).concat(
    new HttpLink({ uri, fetch: spyingFetch, headers: { authorization: `Bearer ${token}` } }),
  );
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

const result = { ok: false };
try {
  const first = await client().query({ query: QUERY, fetchPolicy: 'network-only' });
  result.firstRequests = seen.splice(0).map((b) => ({ hasQuery: typeof b.query === 'string', hash: b.extensions?.persistedQuery?.sha256Hash ?? null }));
  const second = await client().query({ query: QUERY, fetchPolicy: 'network-only' });
  result.secondRequests = seen.splice(0).map((b) => ({ hasQuery: typeof b.query === 'string', hash: b.extensions?.persistedQuery?.sha256Hash ?? null }));
  result.firstRole = first.data?.me?.role ?? null;
  result.secondRole = second.data?.me?.role ?? null;
  result.ok =
    result.firstRequests.length === 2 &&
    !result.firstRequests[0].hasQuery &&
    result.firstRequests[1].hasQuery &&
    result.secondRequests.length === 1 &&
    !result.secondRequests[0].hasQuery &&
    result.secondRequests[0].hash === result.firstRequests[0].hash &&
    result.firstRole === 'ADMIN' &&
    result.secondRole === 'ADMIN';
} catch (err) {
  result.error = String(err && err.message ? err.message : err).slice(0, 2000);
}
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(result.ok ? 0 : 1);
