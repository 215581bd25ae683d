#!/bin/sh
# The PHP adapter's own tests: plain PHP CLI scripts (tests/*_test.php),
# each request run under php-cgi (Debian's php-cgi; see tests/lib.php for
# why), no PHPUnit, no Composer, no network. TEST_RUN=<regexp> runs only
# the tests whose name matches.
set -eu
cd "$(dirname "$0")"
command -v php-cgi >/dev/null || { echo "adapters/php/test.sh: php-cgi is missing: apt-get install -y php-cgi" >&2; exit 1; }
status=0
for f in tests/*_test.php; do
	echo "== adapters/php/$f"
	php "$f" || status=1
done
exit $status
