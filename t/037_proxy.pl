# The worker uses a proxy only when directus_sync.http_proxy names one: the
# http_proxy / https_proxy / all_proxy of the server's environment are
# ignored, so a token for an http:// remote never goes to a proxy the DBA
# did not choose.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $remote = start_fake(collections => { articles => { pk => 'id' } });
# A second fake stands for a proxy: it answers requests in absolute form
# (POST http://host:port/items/...) as Directus would.
my $proxy = start_fake(token => $remote->{token}, collections => { articles => { pk => 'id' } });

# The server's environment names the "proxy"; the test's postmaster inherits it.
local $ENV{http_proxy} = $proxy->{url};
local $ENV{HTTP_PROXY} = $proxy->{url};
local $ENV{all_proxy} = $proxy->{url};
my $node = new_sync_node('proxy');
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
sql("SET log_statement = 'none'; SELECT directus_sync.add_remote('b', '$remote->{url}', '$remote->{token}')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});

sql(q{INSERT INTO articles VALUES (1, 'direct')});
ok(wait_drained($node, 'b'), 'delivered');
is(scalar @{ fake_requests($remote, 0, 'articles') } > 0 ? 1 : 0, 1, 'by default the remote is reached directly');
is(scalar @{ fake_requests($proxy, 0) }, 0, '... and the proxy of the environment sees nothing');

sql("ALTER SYSTEM SET directus_sync.http_proxy = '$proxy->{url}'");
sql(q{SELECT pg_reload_conf()});
sleep(1);
my $mark = last_seq($remote);
sql(q{INSERT INTO articles VALUES (2, 'through the proxy')});
ok(wait_drained($node, 'b'), 'delivered with directus_sync.http_proxy set');
my @through = grep { $_->{method} eq 'POST' } @{ fake_requests($proxy, 0, 'articles') };
is(scalar @through, 1, 'the request went through the proxy that the setting names');
is(scalar @{ fake_requests($remote, $mark, 'articles') }, 0, '... and not straight to the remote');

$node->stop;
done_testing();
