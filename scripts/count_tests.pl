#!/usr/bin/perl
# scripts/count_tests.pl: counts one test layer's passes, failures and skips
# from what it printed, for the closing line of scripts/test.sh.
#
#   count_tests.pl regress LOG EXIT_STATUS [NAME...]   pg_regress or isolation output
#   count_tests.pl tap     LOG EXIT_STATUS [FILE...]   prove --verbose standard output
#
# EXIT_STATUS is make's. NAME/FILE: what should have run (REGRESS, ISOLATION,
# t/*.pl); each one the log never mentions counts as one failure. A missing
# LOG reads as empty: the layer never ran.
#
# Prints "PASSED FAILED SKIPPED" on stdout, and on stderr, after the name of
# LOG (pg_regress.log: "pg_regress: ..."), one line for each failure that a
# plain count of "FAILED" and "not ok" lines would miss, saying why.
#
# The rule behind every extra count: a run that went wrong counts at least one
# failure, even when every line it printed says ok. Test lines are counted;
# the closing lines the runners print ("M of N tests failed.", prove's "Test
# Summary Report" and "Result:") are the authority for whether it went wrong.
use strict;
use warnings;

my ($kind, $log, $status, @expect) = @ARGV;
die "usage: $0 regress|tap LOG EXIT_STATUS [NAME...]\n"
  unless defined $status && $status =~ /^\d+$/ && $kind =~ /^(?:regress|tap)$/;

my @lines;
if (open(my $fh, '<', $log)) {
	@lines = <$fh>;
	close $fh;
	chomp @lines;
	s/\r$// for @lines;
}

my ($passed, $failed, $skipped, @notes) =
  $kind eq 'regress' ? count_regress() : count_tap();
my ($label) = $log =~ m{([^/]+?)(?:\.log)?$};
print STDERR "  $label: $_\n" for @notes;
print "$passed $failed $skipped\n";
exit 0;

sub max { my $m = shift; $_ > $m and $m = $_ for @_; return $m }

# Names in @expect that %seen lacks, as one note; returns how many.
sub missing {
	my ($seen, $notes) = @_;
	my @missing = grep { !$seen->{$_} } @expect;
	push @$notes, sprintf('never ran, one failure each: %s', join(' ', @missing))
	  if @missing;
	return scalar @missing;
}

# pg_regress and pg_isolation_regress (PostgreSQL 15) print one line per test,
#   "test NAME ... ok", or "     NAME ... FAILED" inside a parallel group,
#   "failed (ignored)" for a test of an ignore line (counted as skipped),
# and one closing line, which is checked against those lines:
#   " All N tests passed. "            " M of N tests failed. "
#   " P of N tests passed, I failed test(s) ignored. "
#   " M of N tests failed, I of these failures ignored. "
# Since PostgreSQL 16 they print TAP-like lines, "ok 1 - NAME 45 ms" or
# "not ok 2 - NAME" ("+" instead of "-" inside a parallel group; ignore lines
# are gone), and the closing line as a comment, "# All N tests passed." or
# "# M of N tests failed.".
sub count_regress {
	my ($ok, $bad, $ignored) = (0, 0, 0);
	my (%seen, $closing, @notes);
	for (@lines) {
		if (/^(?:test |     )(\S+)\s+\.\.\. (ok|FAILED|failed \(ignored\))/) {
			$seen{$1} = 1;
			if    ($2 eq 'ok')     { $ok++ }
			elsif ($2 eq 'FAILED') { $bad++ }
			else                   { $ignored++ }
		}
		elsif (/^(not )?ok\s+\d+\s+[-+] (\S+)/) {    # 16 and later
			$seen{$2} = 1;
			if ($1) { $bad++ } else { $ok++ }
		}
		# $closing: [passed, failed, ignored] as the closing line says
		elsif (/^(?:# )?\s*All (\d+) tests passed\./) { $closing = [ $1, 0, 0 ] }
		elsif (/^(?:# )?\s*(\d+) of (\d+) tests failed\.\s*$/) { $closing = [ $2 - $1, $1, 0 ] }
		elsif (/^\s*(\d+) of (\d+) tests passed, (\d+) failed test\(s\) ignored\./) {
			$closing = [ $1, 0, $3 ];
		}
		elsif (/^\s*(\d+) of (\d+) tests failed, (\d+) of these failures ignored\./) {
			$closing = [ $2 - $1, $1 - $3, $3 ];
		}
	}

	my $failed = $bad;
	my $wrong;    # why the run went wrong where no FAILED line says so
	if (!$closing) {
		$wrong = "no closing 'All N tests passed.' or 'M of N tests failed.' line: the run did not finish";
	}
	elsif ($closing->[0] != $ok || $closing->[1] != $bad || $closing->[2] != $ignored) {
		$wrong = sprintf('the closing line says %d ok, %d failed, %d ignored; the test lines say %d, %d, %d',
			@$closing, $ok, $bad, $ignored);
		$failed = max($failed, $closing->[1]);
	}
	$failed += missing(\%seen, \@notes);
	$wrong //= "make exited with status $status" if $status != 0 && $failed == 0;
	if ($wrong) {
		if ($failed == 0) {
			$failed = 1;
			$wrong .= ' (counted as one failure)';
		}
		push @notes, $wrong;
	}
	return ($ok, $failed, $ignored, @notes);
}

# prove --verbose, standard output only: the tests' standard error (diag, die
# messages) comes unbuffered and can land in the middle of one of prove's
# lines, so scripts/test.sh keeps it out of the log this reads.
#
# Per file, from the header "t/NAME.pl .... " to the next one:
#   "ok N", "ok N # TODO"       passed
#   "ok N # skip"               skipped
#   "not ok N"                  failed
#   "not ok N # TODO"           skipped (a known failure: nothing checked)
#   "skipped: why" (skip_all)   one skipped
# Subtests' indented lines are left to the "ok N" / "not ok N" that sums them.
# A file went wrong when prove says so after its lines ("Dubious, test
# returned N", "Failed N/M subtests", "All N subtests passed" (printed only
# when something else was wrong), "No subtests run"), when its entry in the
# "Test Summary Report" shows failed tests, a non-zero exit or wait status or
# parse errors (a bad plan), when it bailed out, or when prove said nothing
# after its lines. Such a file counts the most of: its "not ok" lines, the
# Failed count of its summary entry, prove's "Failed N/M" (which includes the
# planned tests that never ran), and 1.
sub count_tap {
	my (%file, @order, $cur, $in_summary, $result, $prove_tests, $bailed, @notes);
	my $file = sub {
		my $name = shift;
		push @order, $name unless $file{$name};
		return $file{$name} //= { ok => 0, not_ok => 0, skip => 0, lines => 0,
			failed => 0, problems => [], done => 0 };
	};
	for (@lines) {
		my $line = $_;
		if ($line =~ /^Test Summary Report/) { ($in_summary, $cur) = (1, undef); next }
		if ($line =~ /^Files=\d+, Tests=(\d+),/) { ($in_summary, $cur, $prove_tests) = (0, undef, $1); next }
		if ($line =~ /^Result: (\w+)/) { $result = $1; next }
		# Printed before the header of the file that bailed out, and prove runs
		# nothing after it: it belongs to the last file seen.
		if ($line =~ /^(?:Bail out!|Bailout called|FAILED--Further testing stopped)/) { $bailed = $line; next }
		if ($in_summary) {
			if ($line =~ /^(\S+)\s*\(Wstat: .* Tests: \d+ Failed: (\d+)\)/) {
				$cur = $file->($1);
				$cur->{failed} = max($cur->{failed}, $2);
			}
			elsif ($cur && $line =~ /^  (Failed tests?|Non-zero (?:exit|wait) status|Parse errors):\s*(.*)/) {
				push @{ $cur->{problems} }, "$1: $2";
			}
			next;
		}
		if ($line =~ /^(?:\[[\d:]+\] )?(\S+\.(?:pl|t)) \.{2,}(?: (.*))?$/) {    # [time] with --timer
			$cur = $file->($1);
			next unless defined $2 && length $2;
			$line = $2;    # without --verbose the result follows the dots
		}
		next unless $cur;
		if ($line =~ /^(not )?ok \d+(.*)$/) {
			my ($not, $rest) = ($1, $2);
			my $directive = $rest =~ /(?<!\\)#\s*(skip|todo)\b/i ? lc $1 : '';
			$cur->{lines}++;
			if    ($directive eq 'skip') { $cur->{skip}++ }
			elsif ($directive eq 'todo') { $not ? $cur->{skip}++ : $cur->{ok}++ }
			elsif ($not)                 { $cur->{not_ok}++ }
			else                         { $cur->{ok}++ }
		}
		elsif ($line =~ /^ok(?:\s*|\s{2,}.*)$/) { $cur->{done} = 1 }    # "ok   12 ms" with --timer
		elsif ($line =~ /^skipped:/) { $cur->{done} = 1; $cur->{skip_all} = 1 }
		elsif ($line =~ /^(Dubious, test returned .*?)\s*$/) { push @{ $cur->{problems} }, $1 }
		elsif ($line =~ /^(Failed (-?\d+)\/\d+ subtests)/) {
			push @{ $cur->{problems} }, $1;
			$cur->{failed} = max($cur->{failed}, $2);
			$cur->{done} = 1;
		}
		elsif ($line =~ /^(All \d+ subtests passed|No subtests run|No tests run!)/) {
			push @{ $cur->{problems} }, $1;
			$cur->{done} = 1;
		}
	}
	push @{ $file{ $order[-1] }{problems} }, $bailed if $bailed && @order;

	my ($passed, $failed, $skipped, $lines) = (0, 0, 0, 0);
	for my $name (@order) {
		my $f = $file{$name};
		push @{ $f->{problems} }, 'prove printed no result for it: it did not finish'
		  unless $f->{done} || @{ $f->{problems} };
		my $n = max($f->{not_ok}, $f->{failed});
		$n = max($n, 1) if @{ $f->{problems} };
		push @notes, sprintf('%s: %d failed (%d "not ok"): %s', $name, $n, $f->{not_ok},
			join('; ', @{ $f->{problems} })) if $n > $f->{not_ok};
		$passed  += $f->{ok};
		$failed  += $n;
		$skipped += $f->{skip} + ($f->{skip_all} && !$f->{lines} ? 1 : 0);
		$lines   += $f->{lines};
	}
	$failed += missing(\%file, \@notes);

	my $wrong;    # why the run went wrong where no file says so
	if (!defined $result) {
		$wrong = 'prove printed no "Result:" line: it did not finish';
	}
	elsif ($result eq 'FAIL') {
		$wrong = 'prove says "Result: FAIL"';
	}
	elsif (defined $prove_tests && $prove_tests != $lines) {
		$wrong = "prove counted $prove_tests tests, the lines read here $lines";
	}
	$wrong //= "make exited with status $status" if $status != 0;
	if ($wrong && $failed == 0) {
		push @notes, "$wrong (counted as one failure)";
		$failed = 1;
	}
	return ($passed, $failed, $skipped, @notes);
}
