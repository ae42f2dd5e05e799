#!/usr/bin/perl
# PGET from Perl with Redis.pm (Debian's libredis-perl): the lease / PSET / WAIT cycle of
# docs/pget.md. Redis.pm sends any method it does not know as a command (AUTOLOAD: `$redis->pget(...)`
# sends PGET; an underscore would split the name into words, as `client_list` sends CLIENT LIST).
#
# Run by CTest as `with_servers perl pget_example.pl` (tests/clients/CMakeLists.txt): with_servers
# starts a redis-server and a puppy-proxy and exports PUPPY_PROXY_PORT. Exits non-zero with a
# message on the first mismatch.
use strict;
use warnings;
use Redis;

sub check {
    my ($ok, $what) = @_;
    return if $ok;
    print STDERR "pget_example.pl: FAILED: $what\n";
    exit 1;
}
sub show { join ', ', map { defined $_ ? $_ : 'undef' } @_ }

my $port = $ENV{PUPPY_PROXY_PORT} or die "PUPPY_PROXY_PORT is not set; run under with_servers\n";
sub connect_proxy { Redis->new(server => "127.0.0.1:$port") } # no read timeout by default
my $redis = connect_proxy();

my %last; # the replies of the last cached() call, for the checks below

# The value of $key: fresh or stale as it is; on a lease, computed by $compute and stored.
sub cached {
    my ($redis, $key, $compute) = @_;
    my ($state, $value, $token) = $redis->pget($key, 60, 5, 'WAIT', 5000);
    %last = (state => $state, value => $value, token => $token);
    if ($state eq 'lease') {
        eval { $value = $compute->(); 1 } or do {
            my $error = $@;
            $last{released} = $redis->prelease($key, $token); # the next reader gets the lease
            die $error;
        };
        $last{stored} = $redis->pset($key, $token, $value, 60, 5);
    }
    return $value;
}

my $key = "pget-example:perl:$$";
my $computed = 0;
sub compute { my $v = shift; sub { $computed++; $v } }
sub got { '(got ' . show(map { "$_=" . ($last{$_} // 'undef') } sort keys %last) . ')' }

# A cold key: this caller gets the lease (no value, a 32-hex token), computes and stores.
my $value = cached($redis, $key, compute('v1'));
check($value eq 'v1' && $computed == 1, "first call computes v1 (got $value, $computed computes)");
check($last{state} eq 'lease' && !defined $last{value}, 'first PGET answers lease, nil ' . got());
check($last{token} =~ /\A[0-9a-f]{32}\z/, 'the token is 32 hex characters ' . got());
check($last{stored} == 1, 'PSET answers 1 ' . got());

# Fresh: the value without computing.
$value = cached($redis, $key, compute('v2'));
check($value eq 'v1' && $computed == 1 && $last{state} eq 'fresh', 'second call is fresh v1 ' . got());

# Invalidated: the next caller gets the lease with the old value, and computes again.
check($redis->pinvalidate($key) == 1, 'PINVALIDATE answers 1');
$value = cached($redis, $key, compute('v2'));
check($last{state} eq 'lease' && $last{value} eq 'v1', 'after PINVALIDATE: lease with old v1 ' . got());
check($value eq 'v2' && $computed == 2 && $last{stored} == 1, "v2 computed and stored (got $value)");

# A compute that fails gives the lease back (PRELEASE), so the next call gets it again.
check($redis->pinvalidate($key) == 1, 'PINVALIDATE answers 1');
eval { cached($redis, $key, sub { die "backend down\n" }); 1 }
    and check(0, "the failing compute's error reaches the caller");
check($@ eq "backend down\n", "the compute's own error is re-thrown (got $@)");
check($last{state} eq 'lease' && $last{released} == 1, 'failed compute: PRELEASE answers 1 ' . got());
$value = cached($redis, $key, compute('v3'));
check($last{state} eq 'lease' && $value eq 'v3', 'after PRELEASE the next call gets the lease ' . got());

# WAIT: a second connection waits on a cold key while this one holds its lease. Given a callback
# as last argument, Redis.pm sends the command at once and reads its reply later
# (wait_all_responses), so no fork is needed.
my $key2 = "$key:wait";
my ($state, undef, $token) = $redis->pget($key2, 60, 5);
check($state eq 'lease', "plain PGET on a cold key answers lease (got $state)");
my $waiter = connect_proxy();
my ($reply, $error);
$waiter->pget($key2, 60, 5, 'WAIT', 5000, sub { ($reply, $error) = @_ });
# Whether the waiter's PGET reaches the proxy before or after this PSET, it answers fresh w1:
# before, it waits and the PSET's publish wakes it; after, the value is there at once.
check($redis->pset($key2, $token, 'w1', 60, 5) == 1, 'PSET for the waiter answers 1');
$waiter->wait_all_responses;
check(!defined $error && show(@$reply) eq 'fresh, w1, undef',
      'the waiter gets fresh w1 (got ' . ($error // show(@$reply)) . ')');

print "pget_example.pl: all checks passed\n";
