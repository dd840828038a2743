# What a remote says in its errors goes into the server log, remote_status,
# the outbox, the dead letters and Directus notifications (markdown, which
# Directus's app renders). A hostile or broken remote answers with newlines
# and a forged log line, ANSI escapes, bidi overrides, a megabyte of text,
# a malformed code and markdown that would load an image or link elsewhere:
# no line of the log is forged, the stored texts are capped and clean, the
# notification holds no live markdown. Then keys that JSON cannot carry as
# numbers (NaN, Infinity): refused at capture, and an old one deleted goes
# out as valid JSON.
use strict;
use warnings;
use utf8;
use lib 't';
use DirectusSyncTest;
use Encode ();
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' }, nums => { pk => 'id' } });
# Every failure notifies; %b shows the worker's backend type.
my $node = new_sync_node('error_texts', extra_conf => q{
directus_sync.notify_interval = 0
directus_sync.max_item_attempts = 1000
log_statement = 'none'
log_line_prefix = '%m [%p] %b '
});
sub sql { return run_sql($node, $_[0]) }
# A text value exactly as stored (psql's output would hide nothing, but JSON
# keeps trailing blanks and tells NULL apart).
my $json_text = JSON::PP->new->allow_nonref;
sub text_of { return $json_text->decode(sql("SELECT to_json(($_[0]))")) }

my $user = '0b5e4a5c-1111-4222-8333-444455556666';
sql(qq{
	CREATE TABLE articles (id int PRIMARY KEY, title text);
	CREATE TABLE directus_users (id uuid PRIMARY KEY);
	CREATE TABLE directus_notifications (id serial PRIMARY KEY, timestamp timestamptz DEFAULT now(),
		status varchar(255) DEFAULT 'inbox', recipient uuid NOT NULL REFERENCES directus_users,
		sender uuid, subject varchar(255), message text, collection varchar(64), item varchar(255));
	INSERT INTO directus_users VALUES ('$user');
	SELECT directus_sync.add_remote('b', '$fake->{url}', '$fake->{token}', notify_users => ARRAY['$user']::uuid[]);
	SELECT directus_sync.subscribe('b', 'articles', ARRAY['title']);
});

my $evil = "first line\nLOG:  forged: a line of its own\r\n2030-01-01 00:00:00.000 UTC [4242] LOG:  forged too"
  . " \e[2J\e[31mansi\e[0m \x{85}nel \x{2028}ls \x{202E}bidi\x{202C} \x{7}bell"
  . ' ![x](http://evil.example/x.png) [click](javascript:alert(1)) <img src="http://evil.example/y.png">'
  . ' ``` `tick` http://evil.example/z www.evil.example '
  . ('A' x 1_000_000);
my $evil_code = "EVIL\nLOG:  forged code";
my $controls = qr/[\x00-\x1f\x7f-\x9f\x{061C}\x{200E}\x{200F}\x{2028}-\x{202E}\x{2066}-\x{2069}]/;

# A text from the remote as it should be stored: the controls gone, what
# the remote said still readable, cut to at most $max bytes with a mark.
sub clean_and_capped
{
	my ($text, $max, $what) = @_;
	my $bytes = length(Encode::encode('UTF-8', $text // ''));
	ok(defined $text && $text !~ $controls, "$what: no control, line break, ANSI or bidi character")
	  or diag(explain(substr($text // '', 0, 300)));
	ok($bytes <= $max, "$what: capped ($bytes bytes, at most $max)");
	like($text // '', qr/first line LOG:  forged: a line of its own  2030-01-01 00:00:00\.000 UTC \[4242\] LOG:  forged too/,
		"$what: the remote's words are kept, on one line");
	like($text // '', qr/A…(?: \(attempt.*)?$/, "$what: cut on a character boundary, and says so");
}

# ---------------------------------------------------------------------------
# The remote fails as a whole (503), for an item (400, dead letter) and for
# an item for now (500, backs off alone)

my $log_offset = -s $node->logfile;

ctl($fake, 'POST', 'fail', { status => 503, code => $evil_code, message => $evil, count => 1 });
sql(q{INSERT INTO articles VALUES (1, 'one')});
ok(wait_drained($node, 'b'), '503: delivered after the failure');
clean_and_capped(text_of(q{SELECT last_error FROM directus_sync.remote_status WHERE remote = 'b'}), 1200,
	'503: remote_status.last_error');

ctl($fake, 'POST', 'fail', { status => 400, code => $evil_code, message => $evil, count => 1 });
sql(q{INSERT INTO articles VALUES (2, 'two')});
ok(wait_drained($node, 'b'), '400: recorded');
is(text_of(q{SELECT error_code FROM directus_sync.dead_letter WHERE item_key = '2'}), 'MALFORMED_CODE',
	'400: a code of other characters than A-Z, 0-9 and _ is replaced');
clean_and_capped(text_of(q{SELECT error_message FROM directus_sync.dead_letter WHERE item_key = '2'}), 1000,
	'400: dead_letter.error_message');

ctl($fake, 'POST', 'fail', { status => 500, code => $evil_code, message => $evil, count => -1, key => 3 });
sql(q{INSERT INTO articles VALUES (3, 'three')});
ok(wait_for('the 500 to be recorded on the item', sub {
		sql(q{SELECT last_error IS NOT NULL FROM directus_sync.outbox WHERE item_key = '3'}) eq 't' }),
	'500: the item backs off');
clean_and_capped(text_of(q{SELECT last_error FROM directus_sync.outbox WHERE item_key = '3'}), 1100,
	'500: outbox.last_error');
ctl($fake, 'DELETE', 'fail');
ok(wait_drained($node, 'b'), '500: delivered once the remote accepts it');

# ---------------------------------------------------------------------------
# The server log: every line starts with log_line_prefix

my $log = slurp_file($node->logfile, $log_offset);
my @lines = split /\n/, $log;
my @forged = grep { !/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+ \[\d+\] / } @lines;
ok(!@forged, 'log: every line after the failures starts with the log_line_prefix')
  or diag(join("\n", map { substr($_, 0, 200) } @forged[ 0 .. ($#forged > 4 ? 4 : $#forged) ]));
ok(length($log) < 100_000, 'log: the megabyte stays out (' . length($log) . ' bytes logged)');
unlike($log, qr/\e/, 'log: no escape character');
my $prefix = qr/\S+ \S+ \S+ \[\d+\] directus_sync worker /;
like($log, qr/^${prefix}LOG:  remote "b" failed; retrying later\n${prefix}DETAIL:  HTTP 503 MALFORMED_CODE: first line LOG:/m,
	'log: the primary message names the remote, the DETAIL line carries the answer');

# ---------------------------------------------------------------------------
# Notifications: the remote's text inside code spans only

# The text of markdown outside its code spans (CommonMark: a run of n
# backticks opens a span that the next run of exactly n closes; a run with
# no closer is literal).
sub outside_code_spans
{
	my ($md) = @_;
	my $out = '';
	pos($md) = 0;
	while ($md =~ /\G([^`]*)(`+)/gc)
	{
		$out .= $1;
		my $n = length $2;
		$out .= $2 unless $md =~ /\G.*?(?<!`)`{$n}(?!`)/gcs;
	}
	return $out . substr($md, pos($md) // 0);
}

my $notes = $json_text->decode(sql(q{SELECT coalesce(json_agg(message ORDER BY id), '[]') FROM directus_notifications}));
ok(@$notes >= 3, 'notify: the failures notified (' . scalar(@$notes) . ')');
my @live = grep { outside_code_spans($_) =~ /!\[|\]\(|<|evil|javascript|$controls/ } @$notes;
ok(!@live, 'notify: outside code spans, no markdown link or image, HTML or text of the remote')
  or diag(substr(outside_code_spans($live[0]), 0, 400));
ok(!grep({ !/forged/ } @$notes), 'notify: each names the remote\'s error');

# Rendered as Directus's app renders it (marked), when a Directus install is there.
my $home = $ENV{DS_E2E_HOME} // '/var/cache/directus_sync/e2e';
my ($nodejs, $marked) = ("$home/node/bin/node", "$home/directus/node_modules/marked/lib/marked.esm.js");
SKIP:
{
	skip "no Directus install with marked under $home", 1 unless -x $nodejs && -f $marked;
	my ($in, $html, $err) = (json_encode($notes), '', '');
	IPC::Run::run([ $nodejs, '--input-type=module', '-e',
		"import { marked } from '$marked'; let s = ''; process.stdin.on('data', d => s += d);"
		  . " process.stdin.on('end', () => { for (const m of JSON.parse(s)) console.log(marked.parse(m)); });" ],
		'<', \$in, '>', \$html, '2>', \$err);
	my @bad = $html =~ /(<img[^>]*>|<a [^>]*(?:evil|javascript)[^>]*>)/g;
	ok($html ne '' && !@bad, 'notify: rendered by marked, no image and no link of the remote')
	  or diag($err . join("\n", @bad[ 0 .. ($#bad > 4 ? 4 : $#bad) ]));
}

# ---------------------------------------------------------------------------
# Keys JSON has no number for

sql(q{CREATE TABLE nums (id numeric PRIMARY KEY, t text)});
sql(q{INSERT INTO nums VALUES ('NaN', 'before'), (1.5, 'x')});
sql(q{SELECT directus_sync.subscribe('b', 'nums', ARRAY['t'])});
my ($ret, $out, $err) = $node->psql('postgres', q{INSERT INTO nums VALUES ('Infinity', 'new')});
like($err, qr/ERROR:  cannot replicate key Infinity of table "nums"/,
	'NaN keys: a new row with an infinite key is refused');
my $mark = last_seq($fake);
sql(q{DELETE FROM nums WHERE id = 'NaN'});
ok(wait_drained($node, 'b'), 'NaN keys: the delete of an old row is recorded');
is(sql(q{SELECT count(*) FROM directus_sync.dead_letter WHERE collection = 'nums'}), 0,
	'NaN keys: the delete is not refused');
my @deletes = grep { $_->{method} eq 'DELETE' } @{ fake_requests($fake, $mark, 'nums') };
is(json_canon([ map { $_->{body} } @deletes ]), '[["NaN"]]', 'NaN keys: its key goes out as a JSON string');

done_testing();
