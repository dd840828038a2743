# Review 10: the outbox fold (queue_coalesce.c) must not merge an item's
# queued rows across an insert/insert. Instance a made item 5 (born b1) and
# then edited its notes (clock tN), while its link to c was held; then a
# sync from b brought b's item 5 (born bB > b1) carrying only its title
# (b's create reached a on a link that ships title only, or b's update came
# before its create): b's item keeps the key whole, and a's notes go to
# their default without clock (clock_row.c reset_field). The rows queued to
# c then hold two items: a's (born b1) and b's (born bB). The fold starts
# anew at the first row born bB: c gets b's item without a's notes clock
# (or value), which would beat the winner's own notes (at bB) there. Before
# the fix the fold merged them into one request with bB and tN.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('review10_fold');
sub sql { return run_sql($node, $_[0]) }

my $b_user = '00000000-0000-0000-0000-00000000000b';
my $b_node = '00000000-0000-0000-0000-0000000000b0';
sql(q{CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                      collection varchar(64), item varchar(255))});
sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text, notes text NOT NULL)});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'token-b', inbound_user => '$b_user')");
sql("SELECT directus_sync.add_remote('c', '$fake->{url}', '$fake->{token}')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'notes'], key_series => false)});
sql(q{SELECT directus_sync.subscribe('c', 'articles', ARRAY['title', 'notes'], key_series => false)});
sql(q{SELECT directus_sync.pause('b')});
sql(q{SELECT directus_sync.pause('c')});

# a's item 5, then b's item 5 is born, then a edits its notes
sql(q{INSERT INTO articles VALUES (5, 'a title', 'a notes')});
my $b_born = sql(qq{SELECT left(directus_sync.clock_now(), 17) || '$b_node'});
sql(q{UPDATE articles SET notes = 'a notes, edited'});
my $a_notes_clock = sql(q{SELECT directus_sync_meta->'f'->>'notes' FROM articles});
my $b_title_clock = sql(qq{SELECT left(directus_sync.clock_now(), 17) || '$b_node'});
ok($a_notes_clock gt $b_born, "a's notes edit is later than b's item's birth");

# b's item arrives carrying its title only: it is born later, it keeps the key
sql(qq{BEGIN;
UPDATE articles SET title = 'b title',
       directus_sync_meta = jsonb_build_object('s', '$b_node', 'b', '$b_born',
                                               'f', jsonb_build_object('title', '$b_title_clock'))
 WHERE id = 5;
INSERT INTO directus_activity (action, "user", collection, item) VALUES ('update', '$b_user', 'articles', '5');
COMMIT});
is(sql(q{SELECT directus_sync_meta->>'b' FROM articles}), $b_born, "b's item keeps the key (born later)");
is(sql(q{SELECT directus_sync_meta->'f' ? 'notes' FROM articles}), 'f',
	"a's notes keep no clock here: they are the loser's");

my $mark = last_seq($fake);
sql(q{SELECT directus_sync.resume('c')});
wait_drained($node, 'c');
my @items;
for my $r (@{ fake_requests($fake, $mark, 'articles') })
{
	push @items, grep { ref $_ eq 'HASH' && defined $_->{id} && $_->{id} == 5 }
	  (ref $r->{body} eq 'ARRAY' ? @{ $r->{body} } : ($r->{body} // ()));
}
my @born_b = grep { ref $_->{directus_sync_meta} eq 'HASH' && ($_->{directus_sync_meta}{b} // '') eq $b_born } @items;
ok(@born_b >= 1, "c is sent b's item (born $b_born)") or diag(explain(\@items));
my @merged = grep { exists(($_->{directus_sync_meta}{f} // {})->{notes})
	  && index($a_notes_clock, $_->{directus_sync_meta}{f}{notes}) == 0 } @born_b;
# the request born bB carries no clock of a's (the loser's) notes edit
is(scalar(@merged), 0, "b's item is not sent to c with the clock of a's (the loser's) notes edit")
	or diag(explain(\@merged));

is(server_crash($node), '', 'no crash in the server log');
stop_fake($fake);
$node->stop;
done_testing();
