# Review 7: a token typed into the app config's sync_remotes in SQL (as
# Directus's role, or an operator, may: "through the tables it can do what
# the SQL functions do") lands in the server log when the write fails. The
# failing add_remote and alter_remote keep their statement out of the log
# (src/token_calls.c, t/030), but the row triggers of sync_remotes re-raise
# the functions' errors in PL/pgSQL (_app_config_raise), which drops that
# "hide the statement" flag: with the server's default logging
# (log_min_error_statement = error) the log's STATEMENT line holds the
# INSERT or UPDATE with the token in it. Checks: as with add_remote, no
# line of the log shows the token (the error is logged without its
# statement, _raise_hiding_statement), also for a missing value the
# table's NOT NULL would refuse after the BEFORE trigger. Directus itself sends values as bind parameters, which the
# default logging leaves out; a client writing the table with literals (psql,
# a migration script) is what this test stands for.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_sync_node('review7_app_token_log', extra_conf => qq{
log_statement = 'none'
log_min_error_statement = error
log_min_duration_statement = -1
log_parameter_max_length_on_error = 0
});
sub sql { return run_sql($node, $_[0]) }

# Directus's role and its tables (Directus 12's fixture), then the app config.
sql(q{CREATE ROLE r7_directus; GRANT CREATE ON SCHEMA public TO r7_directus; ALTER SCHEMA public OWNER TO r7_directus});
my $fixture = slurp_file('t/directus12_system.sql');
sql("SET ROLE r7_directus;\n$fixture\nRESET ROLE;");
sql(q{SET client_min_messages = warning; SELECT directus_sync.enable_app_config()});
sql(q{SET ROLE r7_directus; INSERT INTO sync_remotes (name, url, token, paused) VALUES ('c', 'http://127.0.0.1:9', 'tok-setup-c', true)});

my @calls = (
	[ 'a new remote with a typo in its URL',
	  q{INSERT INTO sync_remotes (name, url, token) VALUES ('a', 'htps://a.example.com', 'TOKEN')} ],
	[ 'a new remote with a URL holding credentials',
	  q{INSERT INTO sync_remotes (name, url, token) VALUES ('a', 'https://u:p@a.example.com', 'TOKEN')} ],
	[ 'a new remote without a URL',
	  q{INSERT INTO sync_remotes (name, url, token) VALUES ('a', NULL, 'TOKEN')} ],
	[ 'a remote without a name',
	  q{UPDATE sync_remotes SET name = NULL, token = 'TOKEN' WHERE name = 'c'} ],
	[ 'a remote that exists',
	  q{INSERT INTO sync_remotes (name, url, token) VALUES ('c', 'https://c.example.com', 'TOKEN')} ],
	[ 'a new URL and token, the URL mistyped',
	  q{UPDATE sync_remotes SET url = 'htps://c.example.com', token = 'TOKEN' WHERE name = 'c'} ],
	[ 'add_remote (for comparison)',
	  q{RESET ROLE; SELECT directus_sync.add_remote('a', 'htps://a.example.com', 'TOKEN')} ],
);

my $offset = -s $node->logfile;
my $n = 0;
my @tokens;
for my $c (@calls)
{
	my ($what, $call) = @$c;
	my $token = sprintf('tok-r7-%02d-', ++$n) . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 20);
	(my $stmt = $call) =~ s/TOKEN/$token/;
	my ($ret, $out, $err) = $node->psql('postgres', "SET ROLE r7_directus;\n$stmt;\n",
		on_error_die => 0, on_error_stop => 1);
	ok($ret != 0, "$what: fails") or diag("ret $ret: $err");
	ok(index($err, $token) < 0, "$what: the error does not show the token") or diag($err);
	push @tokens, [ $what, $token ];
}
my $log = slurp_file($node->logfile, $offset);
like($log, qr/ERROR:  remote "c" already exists/, 'not vacuous: the errors are logged');
for my $t (@tokens)
{
	my ($what, $token) = @$t;
	my @hits = grep { index($_, $token) >= 0 } split /\n/, $log;
	ok(!@hits, "$what: no line of the server log shows the token") or diag(join("\n", @hits));
}

$node->stop;
done_testing();
