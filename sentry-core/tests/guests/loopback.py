import socket, sys, threading, http.server, urllib.request

# A raw TCP round trip: thread client, main-thread server.
srv = socket.create_server(("127.0.0.1", 0))
port = srv.getsockname()[1]


def client():
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"hello over loopback")
    c.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = c.recv(7)
        if not d:
            break
        got += d
    print("client got", got.decode())
    c.close()


t = threading.Thread(target=client)
t.start()
conn, addr = srv.accept()
data = b""
while True:
    d = conn.recv(5)
    if not d:
        break
    data += d
conn.sendall(data.upper())
conn.close()
t.join()
srv.close()
print("server got", data.decode(), "from loopback:", addr[0] == "127.0.0.1")

# IPv6 and UDP.
s6 = socket.create_server(("::1", 0), family=socket.AF_INET6)
c6 = socket.create_connection(("::1", s6.getsockname()[1]))
a6, peer6 = s6.accept()
c6.sendall(b"six")
print("v6", a6.recv(10).decode(), peer6[0])
for s in (a6, c6, s6):
    s.close()
u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u1.bind(("127.0.0.1", 0))
u2.sendto(b"datagram", u1.getsockname())
msg, frm = u1.recvfrom(100)
print("udp", msg.decode(), frm == ("127.0.0.1", u2.getsockname()[1]))
u1.close()
u2.close()


# HTTP: http.server in a thread, urllib.request as the client.
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("you asked for " + self.path).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
th = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
th.start()
url = "http://127.0.0.1:%d/index.html" % httpd.server_address[1]
with urllib.request.urlopen(url, timeout=10) as r:
    print("http", r.status, r.read().decode())
httpd.shutdown()
th.join()
httpd.server_close()
print("done")
if len(sys.argv) > 1 and sys.argv[1] == "list":
    files = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})
    print("\n".join(files), file=sys.stderr)
