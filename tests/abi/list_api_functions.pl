#!/usr/bin/perl
# Prints the name of every function the public header declares with EF_API,
# one per line, in header order. With --refs, prints EF_ABI_REF(name) lines
# instead, for the header-check translation units to include.
use strict;
use warnings;

my $refs = 0;
if (@ARGV && $ARGV[0] eq '--refs') { $refs = 1; shift @ARGV; }
die "usage: $0 [--refs] edgeformer.h\n" unless @ARGV == 1;

open(my $fh, '<', $ARGV[0]) or die "$0: cannot read $ARGV[0]: $!\n";
my $text = do { local $/; <$fh> };
close $fh;

$text =~ s{/\*.*?\*/}{ }gs;   # block comments
$text =~ s{//[^\n]*}{}g;      # line comments
$text =~ s{^\s*#.*$}{}mg;     # preprocessor lines (the EF_API definitions among them)

my @names;
# EF_API <return type> name ( ... ) ;  -- may span lines
while ($text =~ /\bEF_API\b([^;{}()]*?)\b([A-Za-z_]\w*)\s*\(/g) {
    push @names, $2;
}
die "$0: no EF_API function found in $ARGV[0]\n" unless @names;
for my $n (@names) {
    print $refs ? "EF_ABI_REF($n)\n" : "$n\n";
}
