# Shared helpers of the replication TAP tests (t/010_*, t/011_*, t/012_*):
# a cluster set up for the worker, the fake Directus (t/fake_directus.py)
# and its control API, waits with a timeout, and comparisons of what the
# fake holds with what the tables hold.
#
#   use lib 't';
#   use DirectusSyncTest;
#
# Every wait here polls with a deadline and returns false on timeout, so a
# test states its expectation as ok(wait_for(...)) and never relies on a
# fixed sleep.
package DirectusSyncTest;

use strict;
use warnings;

use Encode ();
use Exporter 'import';
use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

our @EXPORT = qw(
  start_fake stop_fake ctl start_peer stop_peer peer_ctl have_psycopg2 fake_items fake_item_map fake_requests last_seq api_request
  new_sync_node run_sql server_crash wait_for wait_drained remote_status outbox_count
  table_rows json_canon json_decode json_encode compare_items order_violations quote_literal
  b_and_c_paused
);

# Default wait, long enough for a slow, busy machine.
our $TIMEOUT = 120;

# JSON in and out of processes is UTF-8 bytes; inside the tests strings are
# characters (the test files "use utf8"), and so is the canonical form.
my $json_io = JSON::PP->new->utf8->canonical->allow_nonref;
my $json_chars = JSON::PP->new->canonical->allow_nonref;
my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 0);
my @fakes;

# Diagnostics may show non-ASCII keys and values.
binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

sub json_encode { return $json_io->encode($_[0]) }
sub json_decode { return $json_io->decode($_[0]) }

# One canonical JSON text for a Perl structure: the way to compare payloads
# exactly (key order aside), numbers and strings and booleans kept apart.
sub json_canon { return $json_chars->encode($_[0]) }

# A SQL string literal.
sub quote_literal
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# ---------------------------------------------------------------------------
# The fake Directus

# Starts t/fake_directus.py on a free port and waits for its "listening"
# line. Options: collections (hashref, as --collections takes it), token,
# log_max, args (more command line arguments). Returns a hashref with port,
# url, token and pid; every fake started is stopped at the end of the test.
sub start_fake
{
	my (%opt) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $token = $opt{token} // 'test-token';
	return start_server('fake', $port, { token => $token },
		't/fake_directus.py', '--port', $port, '--token', $token,
		'--collections', json_encode($opt{collections} // {}),
		'--log-max', $opt{log_max} // 100000, @{ $opt{args} // [] });
}

# Runs a server script of ours (the fake or the peer) on $port, waits for
# its "listening" line, and returns a hashref with port, url, pid and what
# $extra holds; stopped at the end of the test.
sub start_server
{
	my ($what, $port, $extra, @args) = @_;
	my $pid = open(my $out, '-|', '/usr/bin/python3', @args) or BAIL_OUT("cannot start the $what directus: $!");
	my $line = eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		alarm 30;
		my $l = <$out>;
		alarm 0;
		$l;
	};
	BAIL_OUT("the $what directus did not say it listens")
	  unless defined $line && $line =~ /listening on 127\.0\.0\.1:$port/;
	my $server = { %$extra, port => $port, url => "http://127.0.0.1:$port", pid => $pid, out => $out };
	push @fakes, $server;
	return $server;
}

sub stop_fake
{
	my ($fake) = @_;
	return unless $fake->{pid};
	kill 'TERM', $fake->{pid};
	waitpid($fake->{pid}, 0);
	close $fake->{out};
	$fake->{pid} = undef;
}

END
{
	local $?;
	stop_fake($_) for @fakes;
}

# ---------------------------------------------------------------------------
# The peer Directus (t/peer_directus.py): applies /items requests into a
# database of a cluster, as Directus does

# Whether the peer can run here (it needs Debian's python3-psycopg2).
sub have_psycopg2
{
	return system('/usr/bin/python3', '-c', 'import psycopg2') == 0;
}

# Starts t/peer_directus.py on a free port for database $db of $node and
# waits for its "listening" line. Options: tokens (hashref token => user
# uuid), collections (hashref, default articles keyed by id), seed, args.
# Returns a hashref with port, url, pid; stopped at the end of the test.
sub start_peer
{
	my ($node, $db, %opt) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $dsn = 'host=' . $node->host . ' port=' . $node->port . " dbname=$db";
	return start_server('peer', $port, { db => $db },
		't/peer_directus.py', '--port', $port, '--dsn', $dsn,
		'--tokens', json_encode($opt{tokens} // {}),
		'--collections', json_encode($opt{collections} // { articles => { pk => 'id' } }),
		'--seed', $opt{seed} // 0, @{ $opt{args} // [] });
}

sub stop_peer { stop_fake(@_) }

# A request to the peer's control API (/__peer/...); dies unless it
# answers 200. Returns the decoded answer.
sub peer_ctl
{
	my ($peer, $method, $path, $body) = @_;
	my %req = (headers => { 'Content-Type' => 'application/json' });
	$req{content} = json_encode($body) if defined $body;
	my $res = $http->request($method, "$peer->{url}/__peer/$path", \%req);
	die "peer control $method $path: $res->{status} $res->{content}\n" unless $res->{status} == 200;
	return json_decode($res->{content});
}

# A request to the fake's control API (/__fake/...); dies unless it
# answers 200. Returns the decoded answer.
sub ctl
{
	my ($fake, $method, $path, $body) = @_;
	my %req = (headers => { 'Content-Type' => 'application/json' });
	$req{content} = json_encode($body) if defined $body;
	my $res = $http->request($method, "$fake->{url}/__fake/$path", \%req);
	die "fake control $method $path: $res->{status} $res->{content}\n" unless $res->{status} == 200;
	return json_decode($res->{content});
}

# A request to the fake's Directus API with the fake's token, as a client
# of that Directus would make it (to change the remote behind the worker's
# back). Returns HTTP::Tiny's response.
sub api_request
{
	my ($fake, $method, $path, $body) = @_;
	my %req = (headers => { 'Content-Type' => 'application/json', Authorization => "Bearer $fake->{token}" });
	$req{content} = json_encode($body) if defined $body;
	return $http->request($method, "$fake->{url}$path", \%req);
}

# The items the fake holds in a collection (arrayref, in key order).
sub fake_items
{
	my ($fake, $coll) = @_;
	return ctl($fake, 'GET', "items/$coll")->{data};
}

# The same as a hashref key => item.
sub fake_item_map
{
	my ($fake, $coll, $pk) = @_;
	return { map { $_->{$pk} => $_ } @{ fake_items($fake, $coll) } };
}

# The fake's request log after sequence number $since (0: all), optionally
# only the /items requests of one collection.
sub fake_requests
{
	my ($fake, $since, $coll) = @_;
	my $log = ctl($fake, 'GET', 'requests?since=' . ($since // 0))->{data};
	return $log unless defined $coll;
	return [ grep { $_->{path} =~ m{^/items/\Q$coll\E(/|$)} } @$log ];
}

# The sequence number of the last logged request: a mark to read the log
# from later.
sub last_seq
{
	my ($fake) = @_;
	my $log = ctl($fake, 'GET', 'requests')->{data};
	return @$log ? $log->[-1]{seq} : 0;
}

# ---------------------------------------------------------------------------
# The cluster

# A started cluster with the library preloaded, its worker on database
# postgres, short retry delays and poll interval, UTC timestamps, and the
# extension created. extra_conf: more postgresql.conf lines; allows_streaming:
# set up for a standby; databases: an array of databases (one instance
# each) to create, with the extension, and run the worker on instead of
# postgres.
sub new_sync_node
{
	my ($name, %opt) = @_;
	my @dbs = $opt{databases} ? @{ $opt{databases} } : ('postgres');
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => $opt{allows_streaming} // 0);
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'directus_sync'
directus_sync.databases = '@{[ join(', ', @dbs) ]}'
directus_sync.retry_min_delay = 100
directus_sync.retry_max_delay = 1000
directus_sync.poll_interval = 500
timezone = 'UTC'
});
	$node->append_conf('postgresql.conf', $opt{extra_conf}) if $opt{extra_conf};
	$node->start;
	for my $db (@dbs)
	{
		$node->safe_psql('postgres', "CREATE DATABASE $db") unless $db eq 'postgres';
		$node->safe_psql($db, 'CREATE EXTENSION directus_sync');
	}
	return $node;
}

# The lines of the server log that tell of a crashed server process (with
# the DETAIL line after each), or '' when there is none. ignore_kill: leave
# out the processes that died of SIGKILL (a test's own kill -9).
sub server_crash
{
	my ($node, %opt) = @_;
	my $log = slurp_file($node->logfile);
	my @found = $log =~ /^(.*(?:terminated by signal|was terminated by exception|PANIC:).*\n(?:.*DETAIL:.*\n)?)/mg;
	@found = grep { !/terminated by signal 9:/ } @found if $opt{ignore_kill};
	return join('', @found);
}

# The set-up of the tests that play syncs from a remote b into $node and
# look at what goes on to c (t/091, t/092): directus_activity, articles
# (id, title) subscribed by b (inbound user ...0b, node ...0b0) and c, both
# on $fake and paused. Returns b's inbound user, b's node, and a hashref of
# six clocks of b's node in order, all of this second.
sub b_and_c_paused
{
	my ($node, $fake) = @_;
	my $b_user = '00000000-0000-0000-0000-00000000000b';
	my $b_node = '00000000-0000-0000-0000-0000000000b0';
	run_sql($node, q{CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                      collection varchar(64), item varchar(255))});
	run_sql($node, q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
	run_sql($node, "SELECT directus_sync.add_remote('b', '$fake->{url}', 'token-b', inbound_user => '$b_user')");
	run_sql($node, "SELECT directus_sync.add_remote('c', '$fake->{url}', '$fake->{token}')");
	for my $r ('b', 'c')
	{
		run_sql($node, "SELECT directus_sync.subscribe('$r', 'articles', ARRAY['title'], key_series => false)");
		run_sql($node, "SELECT directus_sync.pause('$r')");
	}
	my $stamp = run_sql($node, q{SELECT left(directus_sync.clock_now(), 11)});
	return ($b_user, $b_node, { map { $_ => $stamp . sprintf('%05x', $_) . '@' . $b_node } 1 .. 6 });
}

# safe_psql, except that when the server crashed the error says so, with
# the log lines telling which process died of what.
sub run_sql
{
	my ($node, $sql, $db) = @_;
	$sql = Encode::encode('UTF-8', $sql) if utf8::is_utf8($sql);
	my ($ret, $out, $err) = $node->psql($db // 'postgres', $sql, on_error_die => 0, on_error_stop => 1);
	return Encode::decode('UTF-8', $out) if $ret == 0;
	# A test's own kill -9 is not a crash.
	my $crash = server_crash($node, ignore_kill => 1);
	if ($crash)
	{
		# With restart_after_crash off (the test default) the postmaster
		# is on its way out: once it is gone, tell the test framework, so
		# that its teardown does not bail out of the whole test run.
		my $pidfile = $node->data_dir . '/postmaster.pid';
		for (1 .. 100) { last unless -f $pidfile; sleep(0.1) }
		$node->{_pid} = undef unless -f $pidfile;
		die "the server crashed:\n$crash";
	}
	die "psql failed ($ret): $err\nwhile running: $sql\n";
}

# Calls $check until it returns true or the timeout (seconds, default
# $TIMEOUT) passes. Returns whether it became true; on timeout says so with
# $desc, and with what $on_timeout returns if given.
sub wait_for
{
	my ($desc, $check, %opt) = @_;
	my $deadline = time() + ($opt{timeout} // $TIMEOUT);
	while (1)
	{
		# A crash of the server ends the wait as a failure, with the reason.
		my $done = eval { $check->() };
		if ($@)
		{
			diag("while waiting for $desc: $@");
			return 0;
		}
		return 1 if $done;
		last if time() > $deadline;
		sleep($opt{interval} // 0.1);
	}
	diag("timed out waiting for $desc");
	diag($opt{on_timeout}->()) if $opt{on_timeout};
	return 0;
}

# The row of directus_sync.remote_status of a remote (in database $db, by
# default postgres), as a hashref (values as psql prints them, NULL as undef).
sub remote_status
{
	my ($node, $remote, $db) = @_;
	my $row = run_sql($node,
		'SELECT row_to_json(s) FROM directus_sync.remote_status s WHERE remote = ' . quote_literal($remote), $db);
	return $row eq '' ? undef : $json_chars->decode($row);
}

# Waits until a remote has nothing queued, nothing in flight and no resync
# running: everything committed so far is delivered or dead. Options: db
# (default postgres), and those of wait_for.
sub wait_drained
{
	my ($node, $remote, %opt) = @_;
	my $q = quote_literal($remote);
	my $db = delete $opt{db};
	return wait_for("remote $remote to drain", sub {
		run_sql($node, "SELECT queued = 0 AND in_flight = 0 AND resync IS NULL
			FROM directus_sync.remote_status WHERE remote = $q", $db) eq 't';
	}, on_timeout => sub {
		run_sql($node, "SELECT row_to_json(s) FROM directus_sync.remote_status s WHERE remote = $q", $db)
		  . "\n" . run_sql($node, "SELECT o.id, o.collection, o.item_key, o.op, o.attempts, o.retry_at, o.last_error
			FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
			WHERE r.name = $q ORDER BY o.id LIMIT 5", $db);
	}, %opt);
}

# Queued rows of a remote (in database $db, by default postgres).
sub outbox_count
{
	my ($node, $remote, $db) = @_;
	return run_sql($node, 'SELECT count(*) FROM directus_sync.outbox o
		JOIN directus_sync.remote r ON r.id = o.remote_id WHERE r.name = ' . quote_literal($remote), $db);
}

# The rows of a query as PostgreSQL's JSON renders them (arrayref of
# hashrefs), ordered by $order: what the fake should hold.
sub table_rows
{
	my ($node, $query, $order) = @_;
	return $json_chars->decode(run_sql($node,
		"SELECT coalesce(json_agg(t ORDER BY $order), '[]') FROM ($query) t"));
}

# Compares two lists of items by key, each item as canonical JSON. One
# assertion; on failure tells the first few differences rather than
# printing thousands of rows. A key that appears twice in a list, or an
# item without the key, is a difference too (a hash by key would
# otherwise keep one of them silently).
sub compare_items
{
	my ($got, $want, $pk, $name) = @_;
	my @problems;
	my $by_key = sub {
		my ($list, $which) = @_;
		my %h;
		for my $item (@$list)
		{
			# Canonical text first: using a value as a hash key could
			# change how it encodes.
			my $c = json_canon($item);
			my $k = ref $item eq 'HASH' ? $item->{$pk} : undef;
			if (!defined $k) { push @problems, "$which: an item without $pk: $c"; next }
			push @problems, "$which: key $k twice: $h{$k} and $c" if exists $h{$k};
			$h{$k} = $c;
		}
		return \%h;
	};
	my %g = %{ $by_key->($got, 'got') };
	my %w = %{ $by_key->($want, 'want') };
	for my $k (sort keys %w)
	{
		if (!exists $g{$k}) { push @problems, "missing $k: want $w{$k}" }
		elsif ($g{$k} ne $w{$k}) { push @problems, "differs $k: got $g{$k} want $w{$k}" }
	}
	push @problems, map { "extra $_: $g{$_}" } grep { !exists $w{$_} } sort keys %g;
	my $ok = ok(!@problems, $name);
	if (!$ok)
	{
		diag(scalar(@problems) . ' differences (' . scalar(@$got) . ' got, ' . scalar(@$want) . ' wanted); first ones:');
		diag($_) for grep { defined } @problems[ 0 .. 9 ];
	}
	return $ok;
}

# For a field that only grows with each change of an item (a version
# counter): the places where the fake was sent an item out of order, as
# messages. Only requests the fake accepted count. An item is a key in the
# body (a batch), the key in the path (PATCH /items/c/1), or the singleton
# of its collection (PATCH /items/c with an object). Two kinds of
# violation: a lower value after a higher one; and, after a DELETE of a
# key, any change of it other than a create (the delete came before a
# change made earlier). A create after a delete starts the item afresh.
sub order_violations
{
	my ($requests, $pk, $field) = @_;
	my (%last, %deleted, @backwards);
	for my $req (@$requests)
	{
		next unless $req->{status} < 300;
		my ($coll, $path_key) = $req->{path} =~ m{^/items/([^/]+)(?:/(.+))?$};
		next unless defined $coll;
		my $body = $req->{body};
		if ($req->{method} eq 'DELETE')
		{
			my @keys = ref $body eq 'ARRAY' ? @$body
			  : ref $body eq 'HASH' && ref $body->{keys} eq 'ARRAY' ? @{ $body->{keys} } : ();
			push @keys, $path_key if defined $path_key;
			for my $k (@keys)
			{
				$deleted{"$coll/$k"} = $req->{seq};
				delete $last{"$coll/$k"};
			}
			next;
		}
		next unless $req->{method} eq 'POST' || $req->{method} eq 'PATCH';
		my @items;
		if (ref $body eq 'ARRAY') { @items = grep { ref $_ eq 'HASH' } @$body }
		elsif (ref $body eq 'HASH' && ref $body->{keys} eq 'ARRAY' && ref $body->{data} eq 'HASH')
		{
			@items = map { +{ %{ $body->{data} }, $pk => $_ } } @{ $body->{keys} };
		}
		elsif (ref $body eq 'HASH') { @items = ($body) }
		for my $item (@items)
		{
			my $k = $item->{$pk} // $path_key // '(singleton)';
			my $id = "$coll/$k";
			if (defined $deleted{$id})
			{
				if ($req->{method} ne 'POST')
				{
					push @backwards, "item $k: $req->{method} (request $req->{seq}) after its DELETE (request $deleted{$id})";
					next;
				}
				delete $deleted{$id};
			}
			next unless defined $item->{$field};
			push @backwards, "item $k: $field $item->{$field} after $last{$id} (request $req->{seq})"
			  if defined $last{$id} && $item->{$field} < $last{$id};
			$last{$id} = $item->{$field};
		}
	}
	return @backwards;
}

1;
