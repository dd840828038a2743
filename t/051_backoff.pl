# The backoff of a failing remote, as docs/replication.md ("Failures")
# and docs/settings.md describe it: after the n-th consecutive failure a
# random delay between half and all of retry_min_delay * 2^(n-1), at most
# retry_max_delay, retried for ever; which answers hold the whole remote
# back (3xx, 404, 408, 502, 504) and which only the item (501, 505);
# redirects are not followed; the delays change at a reload (SIGHUP);
# resume and alter_remote end a backoff at once, resume also an item's.
#
# Every failure of a remote is seen exactly: a trigger (the test's own) on
# directus_sync.remote_state logs each increase of consecutive_failures
# with the delay it was given (retry_at - last_error_at: both are set from
# the same now() of the recording transaction).
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $fake = start_fake(collections => { articles => { pk => 'id' }, pages => { pk => 'id' } });
my $node = new_sync_node('backoff', extra_conf => "directus_sync.retry_min_delay = 100\ndirectus_sync.retry_max_delay = 800\n");
sub sql { return run_sql($node, $_[0]) }

sql(q{
	CREATE TABLE articles (id int PRIMARY KEY, title text);
	CREATE TABLE pages (id int PRIMARY KEY, title text);
	CREATE TABLE backoff_log (remote_id int, n int, delay float8, failed_at float8, last_error text);
	CREATE FUNCTION log_backoff() RETURNS trigger LANGUAGE plpgsql SET search_path = public AS $$
	BEGIN
		INSERT INTO backoff_log VALUES (NEW.remote_id, NEW.consecutive_failures,
			extract(epoch FROM NEW.retry_at - NEW.last_error_at), extract(epoch FROM NEW.last_error_at),
			NEW.last_error);
		RETURN NEW;
	END $$;
	CREATE TRIGGER log_backoff AFTER UPDATE ON directus_sync.remote_state FOR EACH ROW
		WHEN (NEW.consecutive_failures > OLD.consecutive_failures) EXECUTE FUNCTION log_backoff();
});

# The logged failures of a remote (after row $after of the log), as
# [n, delay, failed_at, last_error].
sub failures
{
	my ($remote) = @_;
	my $rows = sql(qq{SELECT coalesce(json_agg(json_build_array(n, delay, failed_at, last_error) ORDER BY failed_at, n), '[]')
		FROM backoff_log l JOIN directus_sync.remote r ON r.id = l.remote_id WHERE r.name = '$remote'});
	return json_decode($rows);
}
sub forget_failures { sql('TRUNCATE backoff_log') }

# ---------------------------------------------------------------------------
# Doubling from retry_min_delay (100 ms) to retry_max_delay (800 ms), with
# jitter, for ever: a remote where nothing listens

my $dead_port = PostgreSQL::Test::Cluster::get_free_port();
my $dead_url = "http://127.0.0.1:$dead_port";
sql("SELECT directus_sync.add_remote('dead', '$dead_url', 'test-token')");
sql(q{SELECT directus_sync.subscribe('dead', 'pages', ARRAY['title'])});
sql(q{INSERT INTO pages VALUES (1, 'for a remote that is not there')});
ok(wait_for('nine failures in a row', sub { @{ failures('dead') } >= 9 }, timeout => 60),
	'a remote where nothing listens fails again and again');
sql(q{SELECT directus_sync.pause('dead')});
my @f = @{ failures('dead') };
is(join(',', map { $_->[0] } @f), join(',', 1 .. scalar @f), 'every failure counted: consecutive_failures 1, 2, 3, ...');
my (@outside, @ratios, @early);
for my $i (0 .. $#f)
{
	my ($n, $delay) = @{ $f[$i] };
	my $base = 0.1 * 2**($n - 1);
	$base = 0.8 if $base > 0.8;
	push @outside, sprintf('n=%d: %.4f s not in [%.3f, %.3f]', $n, $delay, $base / 2, $base)
	  if $delay < $base / 2 - 0.0005 || $delay > $base + 0.0005;
	push @ratios, $delay / $base;
	# the next attempt waited for the delay
	push @early, sprintf('attempt %d came %.3f s after failure %d, whose delay was %.3f s', $n + 1,
		$f[ $i + 1 ][2] - $f[$i][2], $n, $delay)
	  if $i < $#f && $f[ $i + 1 ][2] - $f[$i][2] < $delay;
}
my $seen = join(' ', map { sprintf('%d:%.3f', @$_[ 0, 1 ]) } @f);
ok(!@outside, "delay after the n-th failure within [1/2, 1] x min(100 ms x 2^(n-1), 800 ms): $seen")
  or diag(join("\n", @outside));
ok((grep { $_->[0] >= 5 } @f) >= 3 && !(grep { $_->[1] > 0.8005 } @f), 'capped at retry_max_delay from the 5th failure on');
my ($lo, $hi) = (sort { $a <=> $b } @ratios)[ 0, -1 ];
ok($hi - $lo > 0.02, sprintf('with jitter: delay / nominal delay ranges from %.3f to %.3f', $lo, $hi));
ok(!@early, 'no attempt before the backoff is over') or diag(join("\n", @early));
my $st = remote_status($node, 'dead');
ok($st->{queued} == 1 && $st->{dead} == 0 && $st->{failed} >= @f, "retried for ever: still queued, no dead letter ($st->{failed} failed attempts)");
like($st->{last_error} // '', qr/connect|refused/i, 'last_error: the connection failure');
is(sql(q{SELECT directus_sync.remove_remote('dead')}), 1, 'remove the remote (one change discarded)');

# ---------------------------------------------------------------------------
# Which answers hold the remote back, which only the item

sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
my $id = 0;
for my $status (301, 302, 303, 307, 308, 404, 408, 502, 504, 501, 505)
{
	my $remote_class = $status < 500 || $status == 502 || $status == 504;
	forget_failures();
	ctl($fake, 'POST', 'fail', { status => $status, count => 1, collection => 'articles' });
	my $mark = last_seq($fake);
	$id++;
	sql("INSERT INTO articles VALUES ($id, 'status $status')");
	ok(wait_drained($node, 'b'), "$status: delivered in the end");
	my $log = fake_requests($fake, $mark, 'articles');
	is(join(' ', map { $_->{status} } @$log), "$status 200", "$status: refused once, then accepted");
	my @rf = @{ failures('b') };
	if ($remote_class)
	{
		ok(@rf == 1 && $rf[0][0] == 1 && $rf[0][3] =~ /\b$status\b/,
			"$status: the remote backs off (its failure logged, naming the status)")
		  or diag(explain(\@rf));
		my $gap = @$log == 2 ? $log->[1]{ts} - $log->[0]{ts} : 0;
		ok(@rf && $gap >= $rf[0][1], sprintf('%d: the retry came %.3f s later, after the backoff of %.3f s',
			$status, $gap, @rf ? $rf[0][1] : -1));
	}
	else
	{
		ok(!@rf, "$status: the item backs off alone; the remote does not") or diag(explain(\@rf));
	}
	is(remote_status($node, 'b')->{dead}, 0, "$status: no dead letter");
}
compare_items(fake_items($fake, 'articles'), table_rows($node, 'SELECT id, title FROM articles', 'id'), 'id',
	'after every status: the remote holds what the table holds');

# ---------------------------------------------------------------------------
# Redirects are not followed: a remote URL that answers 307 (which would
# repeat the POST, token and all, elsewhere) with a Location on the fake.

my $redirect_script = "$PostgreSQL::Test::Utils::tmp_check/redirect.py";
open my $fh, '>', $redirect_script or die "$redirect_script: $!";
print $fh <<'PY';
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, status, target = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.send_response(status)
        self.send_header("Location", target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()
        sys.stderr.write("redirected %s %s\n" % (self.command, self.path))
    do_GET = do_POST = do_PATCH = do_DELETE = answer
    def log_message(self, *a):
        pass
server = ThreadingHTTPServer(("127.0.0.1", port), H)
print("listening", flush=True)
server.serve_forever()
PY
close $fh;
# Global, not lexical: a lexical pipe handle would be closed (waiting for
# the server to exit) before the END block that stops it.
our %redirect_servers;
END
{
	local $?;
	kill 'TERM', keys %redirect_servers;
	waitpid($_, 0) for keys %redirect_servers;
}
for my $status (307, 302)
{
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $pid = open(my $out, '-|', '/usr/bin/python3', $redirect_script, $port, $status, $fake->{url})
	  or die "redirect server: $!";
	$redirect_servers{$pid} = $out;
	my $line = <$out>;
	die "the redirect server did not start\n" unless defined $line && $line =~ /listening/;
	forget_failures();
	sql("SELECT directus_sync.add_remote('r$status', 'http://127.0.0.1:$port', 'test-token')");
	sql("SELECT directus_sync.subscribe('r$status', 'pages', ARRAY['title'])");
	my $mark = last_seq($fake);
	sql("INSERT INTO pages VALUES ($status, 'redirected')");
	ok(wait_for("a failure of r$status", sub { @{ failures("r$status") } >= 2 }, timeout => 30),
		"$status with a Location: a failure of the remote, again at each retry");
	like(failures("r$status")->[0][3], qr/\b$status\b/, "$status: last_error names the status");
	is(scalar @{ fake_requests($fake, $mark) }, 0, "$status: not followed, the Location never got a request");
	is(remote_status($node, "r$status")->{queued}, 1, "$status: the change stays queued");
	# The URL fixed: delivered.
	sql("SELECT directus_sync.alter_remote('r$status', url => '$fake->{url}', token => 'test-token')");
	ok(wait_drained($node, "r$status"), "$status: the URL fixed, delivered");
	kill 'TERM', $pid;
	waitpid($pid, 0);
	delete $redirect_servers{$pid};
	sql("SELECT directus_sync.remove_remote('r$status')");
}
is(join(',', map { $_->{id} } @{ fake_items($fake, 'pages') }), '302,307', 'the remote got the pages once the URLs were fixed');

# ---------------------------------------------------------------------------
# The delays change at a reload: retry_min_delay 1 h, retry_max_delay 2 h

sql(q{ALTER SYSTEM SET directus_sync.retry_min_delay = '1h'; ALTER SYSTEM SET directus_sync.retry_max_delay = '2h'});
$node->reload;   # SIGHUP
forget_failures();
ctl($fake, 'POST', 'fail', { status => 503, count => -1, collection => 'articles' });
sql(q{INSERT INTO articles VALUES (100, 'during a long backoff')});
# The first failure may still see the old delays if the worker has not
# taken the reload yet; its retry then comes within a second.
ok(wait_for('a failure with the new delays', sub { grep { $_->[1] >= 1800 } @{ failures('b') } }, timeout => 30),
	'SIGHUP: a failure after the reload backs off by the new retry_min_delay, without a restart');
my ($long) = grep { $_->[1] >= 1800 } @{ failures('b') };
my $nominal = 3600 * 2**($long->[0] - 1);
$nominal = 7200 if $nominal > 7200;
ok($long->[1] >= $nominal / 2 && $long->[1] <= $nominal,
	sprintf('... %.0f s after failure %d: within [1/2, 1] x min(1 h x 2^(n-1), 2 h)', @$long[ 1, 0 ]));

# ---------------------------------------------------------------------------
# resume and alter_remote end a backoff at once

ctl($fake, 'DELETE', 'fail');
ok(defined remote_status($node, 'b')->{retry_at}, 'the remote backs off (for half an hour at least)');
sql(q{SELECT directus_sync.resume('b')});
is(sql(q{SELECT retry_at IS NULL AND consecutive_failures = 0 FROM directus_sync.remote_state s
	JOIN directus_sync.remote r ON r.id = s.remote_id WHERE r.name = 'b'}), 't', 'resume: the backoff is over');
ok(wait_drained($node, 'b', timeout => 20), 'resume: delivered at once');

forget_failures();
ctl($fake, 'POST', 'fail', { status => 503, count => -1, collection => 'articles' });
sql(q{INSERT INTO articles VALUES (101, 'again')});
ok(wait_for('a failure', sub { @{ failures('b') } }, timeout => 20), 'fails again');
is(failures('b')->[0][0], 1, 'the failures count from 1 again after resume: the doubling starts over');
ctl($fake, 'DELETE', 'fail');
sql(q{SELECT directus_sync.alter_remote('b', batch_max_items => 400)});
ok(!defined remote_status($node, 'b')->{retry_at}, 'alter_remote (any setting): the backoff is over');
ok(wait_drained($node, 'b', timeout => 20), 'alter_remote: delivered at once');

forget_failures();
sql("SELECT directus_sync.alter_remote('b', url => '$dead_url', token => 'test-token')");
sql(q{INSERT INTO articles VALUES (102, 'to a wrong URL')});
ok(wait_for('a failure', sub { @{ failures('b') } }, timeout => 20), 'a wrong URL: the remote backs off');
sql("SELECT directus_sync.alter_remote('b', url => '$fake->{url}', token => 'test-token')");
ok(wait_drained($node, 'b', timeout => 20), 'alter_remote with the right URL: delivered at once');

# An item backing off alone (500), for half an hour at least: resume ends
# that too.
ctl($fake, 'POST', 'fail', { status => 500, key => 103, count => -1, collection => 'articles' });
sql(q{INSERT INTO articles VALUES (103, 'an item backing off')});
ok(wait_for('the item to back off', sub {
		sql(q{SELECT count(*) FROM directus_sync.outbox WHERE item_key = '103' AND retry_at > now() + interval '25 min'}) == 1 }),
	'500: the item backs off alone, for half an hour at least');
ctl($fake, 'DELETE', 'fail');
sql(q{SELECT directus_sync.resume('b')});
is(sql(q{SELECT count(*) FROM directus_sync.outbox WHERE retry_at IS NOT NULL}), 0, 'resume: the item\'s backoff is over');
ok(wait_drained($node, 'b', timeout => 20), 'resume: the item is delivered at once');

sql(q{ALTER SYSTEM RESET directus_sync.retry_min_delay; ALTER SYSTEM RESET directus_sync.retry_max_delay});
$node->reload;
compare_items(fake_items($fake, 'articles'), table_rows($node, 'SELECT id, title FROM articles', 'id'), 'id',
	'in the end the remote holds what the table holds');
is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
