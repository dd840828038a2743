# Review 9: review 7 made the row triggers of the app config's sync_remotes
# raise their errors with the statement hidden (t/078), so that a token
# typed into the table in SQL with literals (psql, a migration script:
# "through the tables it can do what the SQL functions do") does not land
# in the server log's STATEMENT line. Three errors of such a write still
# logged the statement, token and all (server defaults:
# log_min_error_statement = error); this test failed on all three before
# the fix:
# - the refusal of _app_config_remote_check (a new token of a remote that
#   ships a table the writer may not read), raised with a plain RAISE: now
#   handed to the next trigger, which raises it through _app_config_raise;
# - two rows of one INSERT with the same name: the BEFORE trigger checked
#   the name against directus_sync.remote only, where the first row is not
#   yet (its add_remote runs in the AFTER trigger), so the table's UNIQUE
#   constraint refused the second row: now the BEFORE trigger also reads
#   sync_remotes;
# - an UPDATE giving a row the id of another: the primary key refused it
#   before the AFTER trigger's "the id cannot change": now the BEFORE
#   trigger refuses it.
# And two sessions adding one name at once: the second waits for the first
# (an advisory lock on the name) and is refused by the BEFORE trigger, not
# by the UNIQUE constraint. Each: the write fails with directus_sync's
# error, the error does not show the token, and no line of the server log
# does. (Directus sends values as bind parameters, which the default
# logging leaves out: a client writing literals is what this test stands
# for, as in t/078.)
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_sync_node('review9_app_token_log', extra_conf => qq{
log_statement = 'none'
log_min_error_statement = error
log_min_duration_statement = -1
log_parameter_max_length_on_error = 0
});
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE ROLE r9_directus; CREATE ROLE r9_other; GRANT CREATE ON SCHEMA public TO r9_directus; ALTER SCHEMA public OWNER TO r9_directus});
my $fixture = slurp_file('t/directus12_system.sql');
sql("SET ROLE r9_directus;\n$fixture\nRESET ROLE;");
# a DBA's remote shipping a table Directus's role may not read
sql(q{CREATE TABLE secrets (id serial PRIMARY KEY, secret text); ALTER TABLE secrets OWNER TO r9_other});
sql(q{SET client_min_messages = warning;
      SELECT directus_sync.add_remote('dba', 'http://127.0.0.1:9', 'tok-setup-dba', enabled => false);
      SELECT directus_sync.subscribe('dba', 'secrets', ARRAY['secret'], clocks => false);
      SELECT directus_sync.enable_app_config()});
sql(q{SET ROLE r9_directus;
      INSERT INTO sync_remotes (name, url, token, paused) VALUES ('c', 'http://127.0.0.1:9', 'tok-setup-c', true);
      INSERT INTO sync_remotes (name, url, token, paused) VALUES ('d', 'http://127.0.0.1:9', 'tok-setup-d', true)});

my @calls = (
	[ 'a new token of a remote shipping a table the writer may not read',
	  q{UPDATE sync_remotes SET token = 'TOKEN' WHERE name = 'dba'},
	  qr/permission denied to change the URL or token of remote "dba" through the app/ ],
	[ 'two new remotes of one name in one INSERT',
	  q{INSERT INTO sync_remotes (name, url, token) VALUES ('e', 'http://127.0.0.1:9', 'TOKEN'), ('e', 'http://127.0.0.1:9', 'TOKEN')},
	  qr/remote "e" already exists/ ],
	[ 'a new token and the id of another row',
	  q{UPDATE sync_remotes SET token = 'TOKEN', id = (SELECT id FROM sync_remotes WHERE name = 'c') WHERE name = 'd'},
	  qr/the id of remote "d" cannot change/ ],
);

my $offset = -s $node->logfile;
my $n = 0;
my @tokens;
for my $c (@calls)
{
	my ($what, $call, $error) = @$c;
	my $token = sprintf('tok-r9-%02d-', ++$n) . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 20);
	(my $stmt = $call) =~ s/TOKEN/$token/g;
	my ($ret, $out, $err) = $node->psql('postgres', "SET ROLE r9_directus;\n$stmt;\n",
		on_error_die => 0, on_error_stop => 1);
	ok($ret != 0, "$what: fails") or diag("ret $ret: $err");
	like($err, $error, "$what: directus_sync's error");
	ok(index($err, $token) < 0, "$what: the error does not show the token") or diag($err);
	push @tokens, [ $what, $token ];
}

# Two sessions adding one name at once.
{
	my $what = 'a remote added by two sessions at once';
	my ($tok1, $tok2) = map { "tok-r9-$_-" . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 20) } qw(s1 s2);
	my $s1 = $node->background_psql('postgres');
	$s1->query_safe("SET ROLE r9_directus");
	$s1->query_safe("BEGIN");
	$s1->query_safe("INSERT INTO sync_remotes (name, url, token, paused) VALUES ('f', 'http://127.0.0.1:9', '$tok1', true)");
	my $s2 = $node->background_psql('postgres', on_error_stop => 0);
	$s2->query_safe("SET ROLE r9_directus");
	$s2->{stdin} .= "INSERT INTO sync_remotes (name, url, token, paused) VALUES ('f', 'http://127.0.0.1:9', '$tok2', true);\n\\echo DONE\n";
	$s2->{run}->pump_nb;
	ok(wait_for('the second adder waiting', sub {
		sql(q{SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO sync_remotes%'}) == 1
	}, timeout => 30), "$what: the second waits for the first");
	$s1->query_safe('COMMIT');
	$s2->{run}->pump until $s2->{stdout} =~ /DONE/ || $s2->{timeout}->is_expired;
	like($s2->{stderr}, qr/remote "f" already exists/, "$what: the second is refused by directus_sync's error");
	ok(index($s2->{stderr}, $tok2) < 0, "$what: the error does not show the token") or diag($s2->{stderr});
	$s2->quit;
	$s1->quit;
	is(sql(q{SELECT count(*) FROM directus_sync.remote WHERE name = 'f'}), '1', "$what: one remote");
	push @tokens, [ $what, $tok2 ];
}
my $log = slurp_file($node->logfile, $offset);
like($log, qr/ERROR:  permission denied to change the URL or token of remote "dba"/, 'not vacuous: the errors are logged');
for my $t (@tokens)
{
	my ($what, $token) = @$t;
	my @hits = grep { index($_, $token) >= 0 } split /\n/, $log;
	ok(!@hits, "$what: no line of the server log shows the token") or diag(join("\n", @hits));
}

$node->stop;
done_testing();
