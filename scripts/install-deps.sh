#!/usr/bin/env bash
# Installs what the tests and the demo need and are missing: Debian packages
# (as root, through apt-get) and the Node upstream's npm packages. Fails with
# a clear message when something cannot be installed.
# Usage: scripts/install-deps.sh [demo|test|bench]
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-test}

need_go() {
	command -v go >/dev/null || { echo "install-deps: Go 1.26 or later is required; put it on PATH (e.g. /usr/local/go/bin)" >&2; exit 1; }
}

missing=()
check() { # check <test command> <debian package>
	if ! eval "$1" >/dev/null 2>&1; then missing+=("$2"); fi
}

need_go
if [ "$what" = demo ]; then
	check "test -x /usr/bin/python3 || command -v python3" python3
fi
if [ "$what" = test ]; then
	check "test -x /usr/bin/python3" python3
	check "command -v redis-server" redis-server
	check "/usr/bin/python3 -c 'import jwt'" python3-jwt
	check "/usr/bin/python3 -c 'import cryptography'" python3-cryptography # PyJWT's EdDSA: integration/tokens_test.go
	check "/usr/bin/python3 -c 'import django'" python3-django # session/django: Django is the oracle
	check "/usr/bin/python3 -c 'import psycopg2'" python3-psycopg2 # session/dbstore: Django's db engine on PostgreSQL
	check "/usr/bin/python3 -c 'import django_redis'" python3-django-redis # session/redisblob: Django's cache engine
	check "/usr/bin/python3 -c 'import redis_sessions'" python3-django-redis-sessions # session/redisblob
	check "ls /usr/sbin/php-fpm* || command -v php-fpm" php-fpm
	check "command -v php" php-cli
	check "command -v php-cgi" php-cgi # adapters/php/test.sh runs each request under php-cgi
	check "command -v composer" composer # integration/adapters_install_test.go: composer install adapters/php
	check "command -v node && command -v npm" "nodejs npm"
	check "/usr/bin/python3 -c 'import flask'" python3-flask # integration/adapters_test.go: adapters/python's Flask example
	check "/usr/bin/python3 -c 'import supysonic.web'" supysonic # integration/adapters_supysonic_test.go: a real Flask app, unchanged
	check "/usr/bin/python3 -c 'import pip'" python3-pip # integration/adapters_install_test.go: pip install adapters/python
	check "command -v gunicorn" gunicorn # integration/reliability_smuggling_test.go: the WSGI stack
	check "test -x /usr/bin/chromium" chromium # integration/browser_test.go
	check "command -v pg_ctlcluster && ls /etc/postgresql/*/main" postgresql # store db on PostgreSQL
	# adapters/ruby: its minitest suite and its Sinatra example under puma (integration/adapters_ruby_test.go)
	check "command -v ruby" ruby
	check "ruby -e 'require \"rack\"'" ruby-rack
	check "ruby -e 'require \"sinatra/base\"'" ruby-sinatra
	check "command -v puma" puma
	check "ruby -e 'require \"rack/test\"'" ruby-rack-test
	check "ruby -e 'require \"minitest\"'" ruby-minitest
	check "ruby -e 'require \"action_controller/railtie\"'" "ruby-railties ruby-actionpack" # adapters/ruby/test/rails_test.rb
	check "php -m | grep -qx mysqli" php-mysql # integration/legacy_apps_test.go: Adminer and phpMyAdmin
	check "test -f /usr/share/adminer/adminer.php" adminer
	check "test -x /usr/sbin/mariadbd && command -v mariadb-install-db && command -v mariadb" "mariadb-server mariadb-client"
fi
if [ "$what" = bench ]; then # scripts/bench.sh
	check "command -v wrk" wrk
	check "command -v redis-server && command -v redis-cli" redis-server
	check "ls /usr/sbin/php-fpm* || command -v php-fpm" php-fpm
	check "php -m | grep -q redis" php-redis # PHP's native sessions on Redis, the peer
	check "command -v gunicorn" gunicorn # the Django peer
	check "/usr/bin/python3 -c 'import django'" python3-django
	check "/usr/bin/python3 -c 'import django_redis'" python3-django-redis # Django's cache engine on Redis
	check "/usr/bin/python3 -c 'import jwt'" python3-jwt # the Django peer behind the module verifies the token
	check "command -v pg_ctlcluster && ls /etc/postgresql/*/main" postgresql # store db on PostgreSQL
fi

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: missing packages: ${missing[*]}; run as root or install them: apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -q && apt-get install -y -q ${missing[*]}; } >&2 || {
		echo "install-deps: apt-get could not install: ${missing[*]}" >&2
		exit 1
	}
fi

if [ "$what" = test ] && [ ! -r /usr/lib/ruby/vendor_ruby/debci/self_service.rb ]; then
	# integration/adapters_ruby_debci_test.go: debci's self-service, a real
	# Sinatra app, without its recommends (devscripts, lintian: 170 more).
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: debci is missing; run as root or: apt-get install -y --no-install-recommends debci" >&2
		exit 1
	fi
	echo "install-deps: installing debci" >&2
	{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debci; } >&2 || {
		echo "install-deps: apt-get could not install: debci" >&2
		exit 1
	}
fi

if [ "$what" = test ] && ! test -f /usr/share/phpmyadmin/index.php; then
	# integration/legacy_apps_test.go serves Debian's phpMyAdmin with a
	# configuration of its own: no database set up by dbconfig-common, no
	# web server configured, none of the web servers it recommends.
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: phpmyadmin is missing; run as root or install it: apt-get install -y --no-install-recommends phpmyadmin" >&2
		exit 1
	fi
	echo "install-deps: installing phpmyadmin" >&2
	export DEBIAN_FRONTEND=noninteractive
	printf '%s\n' "phpmyadmin phpmyadmin/dbconfig-install boolean false" \
		"phpmyadmin phpmyadmin/reconfigure-webserver multiselect" | debconf-set-selections
	apt-get install -y -q --no-install-recommends phpmyadmin >&2 || {
		echo "install-deps: apt-get could not install: phpmyadmin" >&2
		exit 1
	}
fi

if [ "$what" = test ]; then
	# The Node reference upstream verifies tokens with jsonwebtoken (HS256)
	# and jose (EdDSA); the browser test drives Chromium with
	# playwright-core; adapters/node's example runs on express and
	# express-session. npm ls fails when node_modules lacks a dependency
	# the lock file names (one added since the last npm ci).
	for dir in integration/upstreams/node integration/browser adapters/node; do
		(cd "$dir" && npm ls --all >/dev/null 2>&1) && continue
		(cd "$dir" && npm ci --no-audit --no-fund >&2) || {
			echo "install-deps: npm ci failed in $dir" >&2
			exit 1
		}
	done
fi

if [ "$what" = test ] || [ "$what" = bench ]; then
	# The db store's tests use a real PostgreSQL on 127.0.0.1:5432, as the
	# postgres user without a password (trust for local TCP, as on the
	# project's machines; a fresh Debian cluster asks for a password, which
	# the tests then report), each run in a database of its own: start the
	# cluster when it is installed but not running.
	if ! (: >/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
		if [ "$(id -u)" = 0 ] && command -v pg_ctlcluster >/dev/null; then
			ver=$(ls /etc/postgresql | sort -V | tail -1)
			echo "install-deps: starting PostgreSQL $ver" >&2
			pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 || {
				echo "install-deps: could not start PostgreSQL: pg_ctlcluster --skip-systemctl-redirect $ver main start" >&2
				exit 1
			}
		else
			echo "install-deps: PostgreSQL is not listening on 127.0.0.1:5432; start it (as root: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start)" >&2
			exit 1
		fi
	fi
fi
