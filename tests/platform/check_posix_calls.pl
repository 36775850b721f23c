#!/usr/bin/perl
# check_posix_calls.pl ROOT DIR...: fails (exit 1) when a C file under the given
# folders (relative to ROOT) calls an OS-specific function or includes an
# OS-specific header outside lib/base/platform* — the only files that may
# (docs/platforms.md). Comments and string literals are ignored.
#
# Backend plugins (backends/NAME/) see only backend.h, so each keeps its OS
# calls in its own NAME_platform.c; their test harnesses count as tests.
#
# Documented exception: pthreads (and sched_yield) in the thread pool
# (lib/base/threadpool.c); one-time initialisation uses ef_call_once instead.
# POSIX threads are available everywhere we build: glibc, Android's bionic and
# mingw-w64's winpthreads (linked statically into the Windows DLL).
use strict;
use warnings;
use File::Find;

my ($root, @dirs) = @ARGV;
die "usage: check_posix_calls.pl ROOT DIR...\n" unless defined $root && @dirs;

my @calls = qw(open close read write lseek mmap munmap mprotect madvise stat fstat lstat
  getpid isatty fileno unlink rename sysconf clock_gettime gettimeofday nanosleep usleep sleep
  dlopen dlsym dlclose dlerror fork exec execv execvp waitpid pipe mkstemp mkdtemp realpath
  access chdir getcwd ftruncate fsync getrusage sched_getaffinity
  CreateFileA CreateFileW CreateFileMappingW MapViewOfFile UnmapViewOfFile MoveFileExW
  LoadLibraryW LoadLibraryA GetProcAddress QueryPerformanceCounter);
my @headers = qw(unistd.h fcntl.h dlfcn.h sys/[a-z_]+\.h windows.h io.h direct.h pthread.h sched.h);
my %pthread_ok = map { $_ => 1 } ('lib/base/threadpool.c');

my $call_re = join('|', @calls);
my $head_re = join('|', @headers);
my @problems;

sub scan {
    my ($rel, $text) = @_;
    # Blank out comments and literals, keeping newlines for line numbers.
    $text =~ s{/\*.*?\*/}{my $c = $&; $c =~ s/[^\n]/ /g; $c}gse;
    $text =~ s{//[^\n]*}{}g;
    my @lines = split /\n/, $text, -1;
    for my $i (0 .. $#lines) {
        my $line = $lines[$i];
        my $inc = $line =~ /^\s*#\s*include\s*<($head_re)>/ ? $1 : undef;
        $line =~ s/"(?:[^"\\]|\\.)*"/""/g;
        $line =~ s/'(?:[^'\\]|\\.)*'/''/g;
        my $where = "$rel:" . ($i + 1);
        if (defined $inc) {
            next if ($inc eq 'pthread.h' || $inc eq 'sched.h') && $pthread_ok{$rel};
            push @problems, "$where: includes <$inc>";
            next;
        }
        # A call: the name not preceded by an identifier character, '.', or '->'.
        while ($line =~ /(?<![\w.>])($call_re)\s*\(/g) {
            push @problems, "$where: calls $1()";
        }
        if ($line =~ /(?<![\w.>])(pthread_\w+|sched_yield)\s*\(/ && !$pthread_ok{$rel}) {
            push @problems, "$where: calls $1()";
        }
    }
}

for my $dir (@dirs) {
    find({ no_chdir => 1, wanted => sub {
        return unless /\.[ch]$/;
        my $rel = $File::Find::name;
        $rel =~ s{^\Q$root\E/?}{};
        return if $rel =~ m{(^|/)lib/base/platform[^/]*$};
        # plugins cannot link lib/base: each keeps its OS calls in its own
        # *_platform.c; their test harnesses are tests, like tests/
        return if $rel =~ m{(^|/)backends/[^/]+/[^/]*_platform\.c$};
        return if $rel =~ m{(^|/)backends/[^/]+/tests/};
        open(my $fh, '<', $File::Find::name) or die "cannot read $File::Find::name: $!\n";
        local $/;
        scan($rel, <$fh>);
        close $fh;
    } }, "$root/$dir");
}

if (@problems) {
    print STDERR "OS-specific calls outside lib/base/platform* (use base/platform.h):\n";
    print STDERR "  $_\n" for @problems;
    exit 1;
}
print "no OS-specific calls outside lib/base/platform*\n";
exit 0;
