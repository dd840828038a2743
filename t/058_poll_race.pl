# A lower poll_interval at reload applies to the visits already scheduled,
# also one that a leaving worker writes after the reload with the sleep it
# computed from the old interval (src/worker.c leave_if_idle): the launcher
# brings every due time within the poll at each look (src/launcher.c
# launch_if_due). The test stops the leaving worker in wake_set_due with
# gdb, reloads, waits for the launcher to take the new value, and lets the
# worker go on. (Found by an adversarial review: the first fix, which
# brought visits forward once at the reload, lost this race.)
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

plan skip_all => 'gdb is not installed' unless -x '/usr/bin/gdb';
# A packaged library is stripped: gdb needs its debug symbols (installed with
# the package by scripts/in_root.sh).
my $lib = `pg_config --pkglibdir` =~ s/\s+$//r . '/directus_sync.so';
my $sym = `/usr/bin/gdb -batch -nx -ex 'info address wake_set_due' '$lib' 2>&1`;
plan skip_all => "gdb finds no symbol wake_set_due in $lib: $sym" unless $sym =~ /Symbol "wake_set_due" is/;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('poll_race', extra_conf => "directus_sync.poll_interval = '1h'\n");
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});

sub worker_pid
{
	return sql(q{SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'});
}
sub worker_starts
{
	my @starts = slurp_file($node->logfile) =~ /directus_sync worker started for database "postgres"/g;
	return scalar @starts;
}

ok(wait_for('no worker', sub { worker_pid() == 0 }, timeout => 30), 'the first worker left');
sql(q{INSERT INTO articles VALUES (1, 'wakes the worker')});
my $pid;
ok(wait_for('a worker', sub { ($pid = worker_pid()) != 0 }, timeout => 30), 'a commit starts a worker');
ok(wait_for('item 1', sub { exists fake_item_map($fake, 'articles', 'id')->{1} }, timeout => 30),
	'item 1 delivered');

# Stop the worker where it leaves (it lingers 1 s), reload meanwhile.
my $psql = $node->installed_command('psql');
my $conn = $node->connstr('postgres');
my $reload = qq{$psql -XAtq -d '$conn' -c "ALTER SYSTEM SET directus_sync.poll_interval = '2s'" -c "SELECT pg_reload_conf()"; sleep 2};
my ($out, $err) = ('', '');
my $gdb = IPC::Run::start([ '/usr/bin/gdb', '-batch', '-nx', '-p', $pid,
	'-ex', 'handle SIGHUP nostop noprint pass', '-ex', 'handle SIGUSR1 nostop noprint pass',
	'-ex', 'break wake_set_due', '-ex', 'continue', '-ex', 'bt 3', '-ex', "shell $reload", '-ex', 'detach' ],
	'>', \$out, '2>', \$err, IPC::Run::timeout(60));
eval { $gdb->finish };
like($out, qr/leave_if_idle/, 'the worker stopped in wake_set_due on its way out') or diag("$out\n$err");
is(sql(q{SHOW directus_sync.poll_interval}), '2s', 'the reload took the poll to 2 s');
ok(wait_for('the worker to leave', sub { worker_pid() == 0 }, timeout => 30), 'the worker left');

my $starts = worker_starts();
ok(wait_for('a poll within 2 s', sub { worker_starts() > $starts }, timeout => 15),
	'with poll_interval 2 s, the launcher starts a worker again within 15 s');
$node->stop;
done_testing();
