# verify_tls (docs/sql-api.md, the settings of a remote; docs/security.md):
# an https remote whose certificate cannot be verified (self-signed) is
# refused while verify_tls is on, with a TLS error in last_error and
# nothing delivered; with verify_tls => false the same remote gets the
# changes.
#
# The remote is the fake Directus behind a TLS proxy (Python's ssl, here
# below) holding a self-signed certificate for 127.0.0.1 that openssl
# makes: the host name matches, only the issuer is unknown.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dir = $PostgreSQL::Test::Utils::tmp_check;
my ($cert, $key, $proxy_log) = ("$dir/tls_cert.pem", "$dir/tls_key.pem", "$dir/tls_proxy.log");
# openssl comes with postgresql-15 (postgresql-common depends on ssl-cert, which
# depends on openssl).
my ($ok, $out, $err) = run_command([ 'openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', $key,
	'-out', $cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1' ]);
ok(-s $cert && -s $key, 'a self-signed certificate for 127.0.0.1 (openssl)') or BAIL_OUT("openssl failed: $err");

my $proxy_script = "$dir/tls_proxy.py";
open my $fh, '>', $proxy_script or die "$proxy_script: $!";
print $fh <<'PY';
# TLS in front of a plain HTTP server: every connection is decrypted and
# piped to 127.0.0.1:<target>; each handshake's outcome goes to the log,
# and "request" when the client sent data over an established connection.
import socket, ssl, sys, threading
port, target, cert, key, logname = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
lock = threading.Lock()
def log(line):
    with lock, open(logname, "a") as f:
        f.write(line + "\n")
def pipe(a, b, note=None):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            if note:
                log(note)
                note = None
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(conn):
    conn.settimeout(30)
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        log("handshake failed: %s" % e)
        conn.close()
        return
    log("handshake ok")
    tls.settimeout(None)
    up = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pipe, args=(tls, up, "request"), daemon=True).start()
    pipe(up, tls)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(16)
print("listening", flush=True)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
close $fh;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $tls_port = PostgreSQL::Test::Cluster::get_free_port();
# Global, not lexical: a lexical pipe handle would be closed (waiting for
# the proxy to exit) before the END block that stops it.
our ($proxy_pid, $proxy_out);
$proxy_pid = open($proxy_out, '-|', '/usr/bin/python3', $proxy_script, $tls_port, $fake->{port}, $cert, $key, $proxy_log)
  or die "tls proxy: $!";
my $line = <$proxy_out>;
BAIL_OUT('the TLS proxy did not start') unless defined $line && $line =~ /listening/;
END
{
	local $?;
	if ($proxy_pid) { kill 'TERM', $proxy_pid; waitpid($proxy_pid, 0) }
}

sub proxy_log { return -f $proxy_log ? slurp_file($proxy_log) : '' }

my $node = new_sync_node('tls');
sub sql { return run_sql($node, $_[0]) }
sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
sql("SELECT directus_sync.add_remote('tls', 'https://127.0.0.1:$tls_port', 'test-token')");
sql(q{SELECT directus_sync.subscribe('tls', 'articles', ARRAY['title'])});
is(sql(q{SELECT verify_tls FROM directus_sync.remotes WHERE name = 'tls'}), 't', 'verify_tls is on by default');

# verify_tls on: refused
my $mark = last_seq($fake);
sql(q{INSERT INTO articles VALUES (1, 'over TLS')});
my $st;
ok(wait_for('the TLS failure', sub { $st = remote_status($node, 'tls'); defined $st->{last_error} }, timeout => 30),
	'verify_tls on: the delivery fails');
like($st->{last_error}, qr/certificate|SSL|TLS/i, "verify_tls on: last_error tells of the TLS failure ($st->{last_error})");
ok(defined $st->{retry_at} && $st->{queued} == 1 && $st->{dead} == 0, 'verify_tls on: the remote backs off, the change stays queued');
# The worker reached the proxy and sent nothing over the connection. Where
# libcurl refuses the certificate decides what the proxy sees: during the
# handshake (libcurl 7.88 and 8.14: "handshake failed"), or right after it
# (8.22, Debian forky: "handshake ok", then the connection closed).
like(proxy_log(), qr/^handshake (?:failed|ok)/m, 'the worker did connect to the TLS proxy');
unlike(proxy_log(), qr/^request/m, 'no request went over the connection');
is(scalar @{ fake_requests($fake, $mark) }, 0, 'verify_tls on: nothing reached the remote');

# verify_tls off: delivered through the same proxy
sql(q{SELECT directus_sync.alter_remote('tls', verify_tls => false)});
ok(wait_drained($node, 'tls', timeout => 30), 'verify_tls => false: delivered');
like(proxy_log(), qr/^handshake ok\n(?:.*\n)*request/m, '... over TLS (a handshake succeeded, then the request)');
compare_items(fake_items($fake, 'articles'), [ { id => 1, title => 'over TLS' } ], 'id', '... the remote has the item');

# and on again: refused again
unlink $proxy_log;
sql(q{SELECT directus_sync.alter_remote('tls', verify_tls => true)});
$mark = last_seq($fake);
sql(q{INSERT INTO articles VALUES (2, 'verified again')});
ok(wait_for('a connection again', sub { proxy_log() =~ /^handshake/m }, timeout => 30),
	'verify_tls on again: the worker connects');
ok(wait_for('the failure to be recorded', sub { (remote_status($node, 'tls')->{last_error} // '') =~ /certificate|SSL|TLS/i
		&& remote_status($node, 'tls')->{queued} == 1 }, timeout => 30),
	'verify_tls on again: recorded as a failure, the change queued');
is(scalar @{ fake_requests($fake, $mark) }, 0, 'verify_tls on again: nothing reached the remote');
unlike(proxy_log(), qr/^request/m, 'verify_tls on again: no request went over the connection');

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
