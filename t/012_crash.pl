# Crash safety: 100,000 row changes (inserts, updates, deletes, re-inserts
# of deleted keys) in 1,000 transactions while the worker ships them; in
# the middle the worker is killed with SIGKILL (the postmaster then restarts
# every process: crash recovery), and in a second run the server stops
# with an immediate shutdown and starts again. The writer is cut off too:
# it finds out which of its transactions committed and retries the others.
#
# Afterwards every committed change has arrived: the fake holds exactly
# what the table holds. And the order of each item's changes held: every
# value written carries a version (v) unique over the whole run; replaying
# the fake's request log gives, per item, the sequence of changes the fake
# applied, which must follow the order in which they were committed
# (duplicates from at-least-once delivery allowed, coalesced steps may be
# missing, nothing may go backwards).
#
# The workload is random (DS_TEST_SEED=N repeats a run; the log shows the
# seed): any item may be deleted right after it was created, while its
# create is on its way at the crash, and the writer goes on at once after
# the restart. What keeps the order is the worker's, not the test's: a
# create is marked as sent when it is claimed (so it never cancels out
# against a later delete), and a worker that starts after a window was left
# unanswered waits until its requests have timed out (request_timeout_ms,
# 5 s here, longer than the fake's 3 s stall, itself longer than a restart).
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $TXNS = 1000;           # per run
my $OPS_PER_TXN = 100;     # row changes per transaction
my $TXNS_PER_PSQL = 25;    # transactions per psql run of the writer
my $seed = length($ENV{DS_TEST_SEED} // "") ? $ENV{DS_TEST_SEED} : int(rand(1_000_000_000));
note("random seed $seed");

my $fake = start_fake(collections => { crash_kill => { pk => 'id' }, crash_stop => { pk => 'id' } },
	log_max => 1_000_000);
# The test default restart_after_crash = off would stop the server at the
# kill -9 instead of recovering.
my $node = new_sync_node('crash', extra_conf => "restart_after_crash = on\n");
sub sql { return run_sql($node, $_[0]) }

sql(q{
	CREATE TABLE crash_kill (id int PRIMARY KEY, v bigint NOT NULL, note text);
	CREATE TABLE crash_stop (id int PRIMARY KEY, v bigint NOT NULL, note text);
	-- The writer's own record of what committed (not replicated).
	CREATE TABLE txlog (txid int PRIMARY KEY);
});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token', request_timeout_ms => 5000)");
sql(q{SELECT directus_sync.subscribe('b', 'crash_kill', ARRAY['v', 'note']);
	SELECT directus_sync.subscribe('b', 'crash_stop', ARRAY['v', 'note'])});

# ---------------------------------------------------------------------------
# The workload, made up front: a list of transactions (SQL text), and per
# item the history of its committed changes: [ 'w', v ] or [ 'd' ].

sub make_workload
{
	my ($coll, $run) = @_;
	srand($seed + $run);
	my (%live, @live_ids, %slot, @dead, %history, @txns);
	my $next_id = 1;
	my $v = $run * 10_000_000;
	my $add = sub { my ($id) = @_; $slot{$id} = @live_ids; push @live_ids, $id };
	my $remove = sub {
		my ($id) = @_;
		my $i = delete $slot{$id};
		my $last = pop @live_ids;
		if ($last != $id) { $live_ids[$i] = $last; $slot{$last} = $i }
	};
	for my $t (1 .. $TXNS)
	{
		my $txid = $run * 100_000 + $t;
		my @stmts;
		for (1 .. $OPS_PER_TXN)
		{
			my $r = rand();
			$v++;
			if ($r < 0.45 || !@live_ids || ($r < 0.50 && !@dead))
			{
				my $id = $next_id++;
				push @stmts, "INSERT INTO $coll VALUES ($id, $v, 'new $v');";
				$live{$id} = $v;
				$add->($id);
				push @{ $history{$id} }, [ 'w', $v ];
			}
			elsif ($r < 0.50)
			{
				# a key deleted earlier comes back
				my $id = splice(@dead, int(rand(@dead)), 1);
				push @stmts, "INSERT INTO $coll VALUES ($id, $v, 'again $v');";
				$live{$id} = $v;
				$add->($id);
				push @{ $history{$id} }, [ 'w', $v ];
			}
			elsif ($r < 0.85)
			{
				my $id = $live_ids[ int(rand(@live_ids)) ];
				push @stmts, "UPDATE $coll SET v = $v, note = 'update $v' WHERE id = $id;";
				$live{$id} = $v;
				push @{ $history{$id} }, [ 'w', $v ];
			}
			else
			{
				my $id = $live_ids[ int(rand(@live_ids)) ];
				push @stmts, "DELETE FROM $coll WHERE id = $id;";
				delete $live{$id};
				$remove->($id);
				push @dead, $id;
				push @{ $history{$id} }, ['d'];
			}
		}
		push @txns, { txid => $txid, sql => join("\n", 'BEGIN;', @stmts, "INSERT INTO txlog VALUES ($txid);", 'COMMIT;', '') };
	}
	return (\@txns, \%history, \%live);
}

# ---------------------------------------------------------------------------
# The writer

# Waits until the server takes connections again (after a crash restart).
sub wait_server_up
{
	return wait_for('the server to accept connections', sub {
		my ($ret) = $node->psql('postgres', 'SELECT 1');
		return $ret == 0;
	}, timeout => 120, interval => 0.2);
}

# How many transactions of the run have committed: they commit one after
# the other, so those are the first ones.
sub committed_count
{
	my ($run) = @_;
	my ($lo, $hi) = ($run * 100_000 + 1, $run * 100_000 + $TXNS);
	my ($n, $max) = split /\|/, sql("SELECT count(*), coalesce(max(txid), $lo - 1) FROM txlog WHERE txid BETWEEN $lo AND $hi");
	die "committed transactions of run $run are not a prefix: $n, up to $max\n" if $n != $max - $lo + 1;
	return $n;
}

# Runs every transaction, $TXNS_PER_PSQL per psql, retrying what did not
# commit. $crash->() is called once, while the psql of the batch at
# $crash_at (a fraction of the run) is running.
sub run_writer
{
	my ($run, $txns, $crash_at, $crash) = @_;
	my $done = 0;
	my ($retries, $crashed) = (0, 0);
	my $script_file = PostgreSQL::Test::Utils::tempdir() . '/writer.sql';
	my $crash_batch_start = int($TXNS * $crash_at / $TXNS_PER_PSQL) * $TXNS_PER_PSQL;
	while ($done < @$txns)
	{
		my $end = $done + $TXNS_PER_PSQL - 1;
		$end = $#$txns if $end > $#$txns;
		# Not logged statement by statement (log_statement = all, the test
		# default, would make the server log the bottleneck).
		my $crash_now = !$crashed && $done >= $crash_batch_start;
		# The psql during which the crash comes takes its time between
		# transactions, so as to be still at work then.
		my $script = join('', "SET log_statement = 'none';\n",
			map { $_->{sql} . ($crash_now ? "SELECT pg_sleep(0.1);\n" : '') } @$txns[ $done .. $end ]);
		open(my $fh, '>', $script_file) or die "cannot write $script_file: $!";
		print $fh $script;
		close $fh;
		my ($out, $err) = ('', '');
		my $h = IPC::Run::start([ $node->installed_command('psql'), '-XAtq', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres'), '-f', $script_file ], '>', \$out, '2>', \$err);
		if ($crash_now)
		{
			# Some transactions of this psql in; then the remote is made to
			# answer the next request three seconds late (longer than a restart), so that the worker
			# surely has a window of changes on its way (claimed, sent, not
			# recorded) when the crash comes. The fake stalls before it
			# applies a request: the request in flight at the crash is
			# applied after the worker has died, while the new worker may
			# already have newer changes of the same items to send.
			my $target = $done + 5;
			ok(wait_for("the writer to reach transaction $target", sub { committed_count($run) >= $target },
					timeout => 60, interval => 0.02),
				"run $run: the writer is at work before the crash");
			ctl($fake, 'POST', 'stall', { seconds => 3, count => 1 });
			ok(wait_for('a stalled request', sub { ctl($fake, 'GET', 'stats')->{stalled} // 0 }, timeout => 30,
					interval => 0.02),
				"run $run: a request is held by the remote at the crash");
			$crash->();
			$crashed = 1;
		}
		my $ok = eval { $h->finish };
		if (!$ok)
		{
			$retries++;
			if ($retries > 20)
			{
				my $crash = server_crash($node, ignore_kill => 1);
				die "the writer keeps failing: $err"
				  . ($crash ? "\nthe server keeps crashing; the first crashes:\n" . join('', (split /^/, $crash)[ 0 .. 3 ]) : '');
			}
			note("writer psql failed (" . ($err =~ s/\s+/ /gr) . "); finding out what committed");
		}
		wait_server_up() or die "the server did not come back\n" if $crash_now || !$ok;
		my $now = committed_count($run);
		die "writer: psql ended well but only $now of " . ($end + 1) . " transactions committed\n"
		  if $ok && $now != $end + 1;
		$done = $now;
	}
	return ($retries, $crashed);
}

# ---------------------------------------------------------------------------
# Checking what the fake got

# Replays the fake's log of one collection on a model of the fake, and
# checks each item's applied changes against its committed history.
# Returns (model of the fake's items: id => v, list of problems).
sub check_history
{
	my ($log, $history) = @_;
	my (%fake, %cur, %last_was_write, @problems);
	my %vpos;    # v => [ id, index in the item's history ]
	while (my ($id, $h) = each %$history)
	{
		for my $i (0 .. $#$h)
		{
			$vpos{ $h->[$i][1] } = [ $id, $i ] if $h->[$i][0] eq 'w';
		}
	}
	my $event = sub {
		my ($id, $kind, $v, $seq) = @_;
		my $h = $history->{$id};
		my $cur = $cur{$id} // -1;
		if (!$h)
		{
			push @problems, "request $seq: item $id was never written";
			return;
		}
		if ($kind eq 'w')
		{
			my $pos = $vpos{$v};
			if (!$pos || $pos->[0] != $id)
			{
				push @problems, "request $seq: item $id got v $v, which was never committed for it";
				return;
			}
			push @problems, "request $seq: item $id got v $v (change $pos->[1]) after change $cur"
			  if $pos->[1] < $cur;
			$cur{$id} = $pos->[1];
		}
		else
		{
			my ($q) = grep { $h->[$_][0] eq 'd' } ($cur < 0 ? 0 : $cur) .. $#$h;
			if (!defined $q)
			{
				push @problems, "request $seq: item $id deleted after change $cur, but no delete follows it";
				return;
			}
			$cur{$id} = $q;
		}
	};
	for my $req (@$log)
	{
		next unless $req->{status} >= 200 && $req->{status} < 300;
		my $body = $req->{body};
		if ($req->{method} eq 'POST')
		{
			for my $item (@$body)
			{
				$fake{ $item->{id} } = $item->{v};
				$event->($item->{id}, 'w', $item->{v}, $req->{seq});
			}
		}
		elsif ($req->{method} eq 'PATCH')
		{
			for my $item (@$body)
			{
				next unless exists $fake{ $item->{id} };    # missing keys are skipped (admin)
				next unless defined $item->{v};
				$fake{ $item->{id} } = $item->{v};
				$event->($item->{id}, 'w', $item->{v}, $req->{seq});
			}
		}
		elsif ($req->{method} eq 'DELETE')
		{
			for my $id (@$body)
			{
				delete $fake{$id};
				$event->($id, 'd', undef, $req->{seq});
			}
		}
	}
	return (\%fake, \@problems);
}

# ---------------------------------------------------------------------------
# One run: the workload, a crash in the middle, then the checks

sub crash_run
{
	my ($run, $coll, $kind) = @_;
	my $started = time();
	my ($txns, $history, $live) = make_workload($coll, $run);
	my $mark = last_seq($fake);
	my %at_crash;
	my $crash = sub {
		my $st = remote_status($node, 'b');
		$at_crash{queued} = $st->{queued};
		$at_crash{in_flight} = $st->{in_flight};
		$at_crash{received} = scalar keys %{ fake_item_map($fake, $coll, 'id') };
		$at_crash{worker} = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'});
		if ($kind eq 'kill')
		{
			note("kill -9 of the worker, pid $at_crash{worker}");
			kill 'KILL', $at_crash{worker};
		}
		else
		{
			note('immediate shutdown, then start');
			$node->stop('immediate');
			$node->start;
		}
		ok(wait_server_up(), "$kind: the server is back");
	};
	my ($retries, $crashed) = run_writer($run, $txns, 0.4, $crash);
	my $written = time() - $started;
	ok($crashed, "$kind: the crash happened while the writer was running ($retries writer retries)");
	ok($at_crash{queued} > 0 && $at_crash{in_flight} > 0 && $at_crash{received} > 0,
		"$kind: in the middle of shipping: the remote had $at_crash{received} items, "
		. "$at_crash{queued} changes were queued, $at_crash{in_flight} items in flight");
	ok(wait_for('a new worker', sub {
			my $pid = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'});
			$pid ne '' && $pid ne $at_crash{worker};
		}, timeout => 30), "$kind: a new worker runs");

	my $table = table_rows($node, "SELECT id, v, note FROM $coll", 'id');
	my %model = map { ($_ => $live->{$_}) } keys %$live;
	is_deeply({ map { ($_->{id} => $_->{v}) } @$table }, \%model,
		"$kind: the table holds exactly the committed transactions (" . scalar(@$table) . ' rows)');

	ok(wait_drained($node, 'b', timeout => 180), "$kind: the queue drains");
	my $drained = time() - $started;
	compare_items(fake_items($fake, $coll), $table, 'id', "$kind: every committed change arrived: the fake equals the table");

	my $log = fake_requests($fake, $mark, $coll);
	my ($replayed, $problems) = check_history($log, $history);
	is_deeply($replayed, { map { ($_->{id} => $_->{v}) } @{ fake_items($fake, $coll) } },
		"$kind: the request log accounts for the fake's state (" . scalar(@$log) . ' requests)');
	if (!ok(!@$problems, "$kind: per item, the changes applied followed the commit order"))
	{
		diag(scalar(@$problems) . " problems, first ones:\n" . join("\n", grep { defined } @$problems[ 0 .. 9 ]));
		# What the first item of them got, request by request.
		my ($id) = $problems->[0] =~ /item (\d+)/;
		for my $req (@$log)
		{
			my @mine = grep { (ref $_ ? $_->{id} : $_) == $id } @{ ref $req->{body} eq 'ARRAY' ? $req->{body} : [] };
			diag(sprintf('request %d at %.3f conn %d: %s %d %s', $req->{seq}, $req->{ts}, $req->{conn},
				$req->{method}, $req->{status}, json_canon(\@mine))) if @mine;
		}
		diag("history of item $id: " . json_canon($history->{$id}));
	}
	is(sql('SELECT count(*) FROM directus_sync.dead_letter'), 0, "$kind: no dead letter");
	note(sprintf('%s: written in %.1f s, drained after %.1f s', $kind, $written, $drained));
}

crash_run(1, 'crash_kill', 'kill');
crash_run(2, 'crash_stop', 'immediate');

like(slurp_file($node->logfile), qr/terminated by signal 9/, 'the log shows the kill -9');
is(server_crash($node, ignore_kill => 1), '', 'no other crash in the server log');

$node->stop;
done_testing();
