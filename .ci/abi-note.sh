#!/bin/sh
# abi-note.sh FILE...: each FILE must carry a FreeBSD ABI tag note (.note.tag: owner
# "FreeBSD", type 1 = NT_FREEBSD_ABI_TAG, a 4-byte __FreeBSD_version). The kernel sets the
# process's p_osrel from it; without it p_osrel is 0 and the kernel applies the oldest
# compatibility behaviour to the binary. A linker can drop the note silently: lld with
# --gc-sections collects crt1.o's .note.tag when it sits in a COMDAT group.
# Reads binutils' readelf (Linux) and elftoolchain's readelf (FreeBSD base).
# Prints "FILE: FreeBSD ABI note N" per file; exits 1 naming every file without one.
set -u
[ $# -gt 0 ] || { echo "usage: $0 FILE..." >&2; exit 2; }
min=1200000   # FreeBSD 12.0; anything lower is not a FreeBSD reinit builds for
rc=0
for f in "$@"; do
  v=$(readelf -n "$f" 2>/dev/null | awk '
    # binutils: "FreeBSD 0x00000004 NT_VERSION (version)" then "description data: 3c 5d 15 00"
    # (newer binutils name the type NT_FREEBSD_ABI_TAG); elftoolchain: "... NT_FREEBSD_ABI_TAG"
    # then "ABI tag: 1302001".
    /^ *FreeBSD +0x0*4[ \t]+NT_(VERSION|FREEBSD_ABI_TAG)/ { f = 1; next }
    f && /description data:/ { print "0x" $6 $5 $4 $3; exit }
    f && /ABI tag:/ { print $NF; exit }
    { f = 0 }')
  case "$v" in
    0x*) v=$(printf '%d' "$v" 2>/dev/null) ;;
  esac
  case "$v" in
    ''|*[!0-9]*) echo "$f: no FreeBSD ABI note (.note.tag, type 1)" >&2; rc=1 ;;
    *) if [ "$v" -lt "$min" ]; then
         echo "$f: FreeBSD ABI note $v is below $min (p_osrel would be wrong)" >&2; rc=1
       else
         echo "$f: FreeBSD ABI note $v"
       fi ;;
  esac
done
exit $rc
