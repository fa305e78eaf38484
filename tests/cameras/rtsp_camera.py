"""An RTSP camera for the tests: GStreamer's RTSP server (Debian's gir1.2-gst-rtsp-server-1.0)
serving one GStreamer pipeline at rtsp://127.0.0.1:<port>/stream.

    /usr/bin/python3 tests/cameras/rtsp_camera.py '<pipeline ending in a payloader pay0>' \
        [<user> <password>]

With a user and password, the camera asks for them by HTTP digest authentication, as network
cameras do, and refuses everyone else. Binds a free port on 127.0.0.1 and prints it on the first
line of stdout, then `connected` for each client connection (a test counts the logins tried);
runs until killed. Clients share one running pipeline, as with a camera's one encoder.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def main() -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch("( " + sys.argv[1] + " )")
    factory.set_shared(True)
    if len(sys.argv) == 4:
        user, password = sys.argv[2], sys.argv[3]
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth = GstRtspServer.RTSPAuth()
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.add_digest(user, password, token)
        server.set_auth(auth)
        role = "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        factory.add_role_from_structure(Gst.Structure.from_string(role)[0])
    server.get_mount_points().add_factory("/stream", factory)
    server.connect("client-connected", lambda *_: print("connected", flush=True))
    server.attach(None)
    print(server.get_bound_port(), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
