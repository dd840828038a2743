# The token of add_remote and alter_remote, when the call fails: what the
# client sees and what the server log keeps (docs/security.md, "Tokens").
#
#   - No error of theirs shows the token: not in the message, DETAIL, HINT
#     or CONTEXT, for the failures a setup script meets (a NULL setting, a
#     remote that exists already, a typo in the URL, the URL and the token
#     swapped, a value out of range, an unknown remote).
#   - With the server's default logging (log_min_error_statement = error)
#     the log's STATEMENT line of a failing call held the token before 0.3.
#     add_remote and alter_remote now keep the statement of their errors
#     out of the log (src/token_calls.c): the log holds the error, no token.
#     The recipes of docs/security.md for the rest (log_statement = 'all',
#     a session in a failed transaction) are checked too:
#       * in psql, the documented SETs before the call: then the log holds
#         the error, and no token;
#       * a client that sends the token as a bind parameter (pgbench
#         -M extended here, as drivers do): no value in the log.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The server's defaults, not the test framework's log_statement = all.
my $node = new_sync_node('token_logging', extra_conf => qq{
log_statement = 'none'
log_min_error_statement = error
log_min_duration_statement = -1
log_parameter_max_length_on_error = 0
});
sub sql { return run_sql($node, $_[0]) }

# A token that can be looked for, one per call so that a hit names the call.
my $n = 0;
sub new_token
{
	return sprintf('tok-%02d-', ++$n) . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 20);
}

# Setting up: a remote b that the failing calls run into.
sql(q{SELECT directus_sync.add_remote('b', 'https://b.example.com', 'tok-setup-b')});

# The failing calls: name, SQLSTATE, the call with TOKEN where the token goes.
my @calls = (
	[ 'a NULL limit', '22004',
	  q{SELECT directus_sync.add_remote('n', 'https://n.example.com', 'TOKEN', connect_timeout_ms => NULL)} ],
	[ 'another NULL limit', '22004',
	  q{SELECT directus_sync.add_remote('n', 'https://n.example.com', 'TOKEN', batch_max_bytes => NULL)} ],
	[ 'a remote that exists', '23505',
	  q{SELECT directus_sync.add_remote('b', 'https://b.example.com', 'TOKEN')} ],
	[ 'a typo in the URL', '22023',
	  q{SELECT directus_sync.add_remote('c', 'htps://c.example.com', 'TOKEN')} ],
	[ 'URL and token swapped', '22023',
	  q{SELECT directus_sync.add_remote('c', 'TOKEN', 'https://c.example.com')} ],
	[ 'a value out of range', '22023',
	  q{SELECT directus_sync.add_remote('c', 'https://c.example.com', 'TOKEN', batch_max_items => 0)} ],
	[ 'alter_remote of an unknown remote', '42704',
	  q{SELECT directus_sync.alter_remote('nope', token => 'TOKEN')} ],
	[ 'alter_remote with a value out of range', '22023',
	  q{SELECT directus_sync.alter_remote('b', token => 'TOKEN', request_timeout_ms => 0)} ],
	[ 'alter_remote to a URL with credentials', '22023',
	  q{SELECT directus_sync.alter_remote('b', url => 'https://u:p@b.example.com', token => 'TOKEN')} ],
);

# Runs each failing call in psql after $before; checks the error the client
# gets. Returns the tokens used and the part of the server log they wrote.
sub run_failing_calls
{
	my ($label, $before) = @_;
	my $offset = -s $node->logfile;
	my @tokens;
	for my $c (@calls)
	{
		my ($what, $state, $call) = @$c;
		my $token = new_token();
		push @tokens, [ $what, $token ];
		(my $sql = $call) =~ s/TOKEN/$token/;
		my ($ret, $out, $err) = $node->psql('postgres',
			"\\set VERBOSITY verbose\n\\set SHOW_CONTEXT always\n$before\n$sql;\n",
			on_error_die => 0, on_error_stop => 1);
		ok($ret != 0 && $err =~ /ERROR:  $state: /, "$label, $what: fails with $state")
		  or diag("ret $ret, stderr: $err");
		ok(index($err, $token) < 0, "$label, $what: the error (message, DETAIL, HINT, CONTEXT) does not show the token")
		  or diag($err);
	}
	return (\@tokens, slurp_file($node->logfile, $offset));
}

# The log lines that hold a token.
sub lines_with
{
	my ($log, $token) = @_;
	return grep { index($_, $token) >= 0 } split /\n/, $log;
}

# ---------------------------------------------------------------------------
# The default logging: the token is nowhere in the log. add_remote and
# alter_remote keep the statement of a failing call out of it.

my ($tokens, $log) = run_failing_calls('default logging', '');
for my $t (@$tokens)
{
	my ($what, $token) = @$t;
	my @hits = lines_with($log, $token);
	ok(!@hits, "default logging, $what: no line of the log shows the token, no STATEMENT line either")
	  or diag(join("\n", @hits));
}
like($log, qr/ERROR:  remote "b" already exists/, 'default logging: the errors themselves are logged');
unlike($log, qr/STATEMENT:  SELECT directus_sync\.(add|alter)_remote/, 'default logging: without their statement');

# ---------------------------------------------------------------------------
# The recipe of docs/security.md, in the same session before the call.

my $recipe = q{SET log_min_error_statement = panic;
SET log_statement = 'none';
SET log_min_duration_statement = -1;};
($tokens, $log) = run_failing_calls('with the documented SETs', $recipe);
for my $t (@$tokens)
{
	my ($what, $token) = @$t;
	my @hits = lines_with($log, $token);
	ok(!@hits, "with the documented SETs, $what: the token is nowhere in the server log")
	  or diag(join("\n", @hits));
}
# Not vacuous: the errors themselves were logged.
like($log, qr/ERROR:  remote "b" already exists/, 'with the documented SETs: the errors are still logged');
my $errors = () = $log =~ / ERROR:  /g;
is($errors, scalar(@calls), 'with the documented SETs: one ERROR line per failing call');

# The recipe lets a successful call through, and logs nothing of it.
my $token = new_token();
my $offset = -s $node->logfile;
my ($ret, $out, $err) = $node->psql('postgres',
	"$recipe\nSELECT directus_sync.add_remote('ok', 'https://ok.example.com', '$token');\n");
is($ret, 0, 'with the documented SETs: a correct call succeeds') or diag($err);
is(sql(q{SELECT url FROM directus_sync.remotes WHERE name = 'ok'}), 'https://ok.example.com',
	'with the documented SETs: the remote is there');
ok(!lines_with(slurp_file($node->logfile, $offset), $token), 'with the documented SETs: nothing logged of it');

# ---------------------------------------------------------------------------
# A bind parameter: the statement text holds $1, not the token.

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $script = "$tmp/add_remote.sql";
PostgreSQL::Test::Utils::append_to_file($script,
	"SELECT directus_sync.add_remote('b', 'https://b.example.com', :token);\n");
$token = new_token();
$offset = -s $node->logfile;
my ($stdout, $stderr);
IPC::Run::run([ 'pgbench', '-n', '-t', '1', '-M', 'extended', '-D', "token=$token", '-f', $script,
		$node->connstr('postgres') ], '>', \$stdout, '2>', \$stderr);
like($stderr, qr/remote "b" already exists/, 'bind parameter: the call fails (a remote that exists)');
$log = slurp_file($node->logfile, $offset);
unlike($log, qr/STATEMENT:  SELECT directus_sync\.add_remote/, 'bind parameter: no STATEMENT line for the error');
ok(!lines_with($log, $token), 'bind parameter: the token is nowhere in the server log with the default settings')
  or diag($log);

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
