# The hybrid logical clock is one per server when the library is preloaded
# (docs/replication.md#clocks): backends ticking at the same time never get
# the same stamp, and a stamp observed in one backend is behind every later
# stamp of every other; without preloading each backend keeps its own.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_sync_node('clock');
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE stamps (session int, n int, clock text COLLATE "C")});

# Four sessions, 50,000 stamps each, at the same time.
my @runs;
for my $session (1 .. 4)
{
	my ($out, $err) = ('', '');
	push @runs, [ IPC::Run::start([ $node->installed_command('psql'), '-XAtq', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres'), '-c',
			"INSERT INTO stamps SELECT $session, g, directus_sync.clock_now() FROM generate_series(1, 50000) g" ],
		'>', \$out, '2>', \$err), \$err ];
}
my $all_ok = 1;
for my $run (@runs)
{
	$all_ok &&= eval { $run->[0]->finish } // 0;
	diag(${ $run->[1] }) unless $all_ok;
}
ok($all_ok, 'four sessions took 50,000 stamps each at the same time');
is(sql(q{SELECT count(*) || ' ' || count(DISTINCT clock) FROM stamps}), '200000 200000',
	'no two stamps of the four sessions are the same');
is(sql(q{SELECT count(*) FROM (SELECT clock, lag(clock) OVER (PARTITION BY session ORDER BY n) AS prev
	FROM stamps) s WHERE clock <= prev}), '0', 'in each session every stamp is later than the one before');
ok(sql(q{SELECT count(DISTINCT split_part(clock, '@', 1)) FROM stamps}) == 200000,
	'the stamps differ in their time and counter, not only by node');

# A clock observed in one session is behind every later stamp of another.
my $ahead = sql(q{SELECT lpad(to_hex(((extract(epoch FROM clock_timestamp()) * 1000)::bigint + 4000) << 16), 16, '0')
	|| '@0a0a0a0a-0000-4000-8000-000000000009'});
is(sql("SELECT directus_sync._clock_observe('$ahead')"), 't', 'one session observes a clock 4 s ahead');
is(sql("SELECT directus_sync.clock_now() COLLATE \"C\" > '$ahead'"), 't',
	'a new session\'s next stamp is later than the clock the first one observed');

# Without preloading: a clock per backend, still later than what it observed.
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->restart;
is(sql(q{SHOW shared_preload_libraries}), '', 'restarted without the library preloaded');
is(sql("SELECT directus_sync._clock_observe('$ahead'); SELECT directus_sync.clock_now() COLLATE \"C\" > '$ahead'"),
	"t\nt", 'not preloaded: a backend\'s next stamp is later than what it observed');
is(sql(q{SELECT count(*) FROM (SELECT c, lag(c) OVER (ORDER BY n) AS p
	FROM (SELECT g AS n, directus_sync.clock_now() COLLATE "C" AS c FROM generate_series(1, 10000) g) t) s
	WHERE c <= p}), '0',
	'not preloaded: the stamps of a backend only grow');

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
