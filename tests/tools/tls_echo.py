#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# N TLS servers on loopback that echo what they read, standing in for that many Redis servers
# (test_redis_tls.sh: the relay table). Prints their ports on one line once all listen.
# Usage: tls_echo.py CERT KEY N
import asyncio
import ssl
import sys


async def echo(reader, writer):
    try:
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    writer.close()


async def main(cert, key, n):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    servers = [await asyncio.start_server(echo, "127.0.0.1", 0, ssl=ctx) for _ in range(n)]
    print(" ".join(str(s.sockets[0].getsockname()[1]) for s in servers), flush=True)
    await asyncio.Event().wait()


asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
