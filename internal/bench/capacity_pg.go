package main

// The capacity run's own PostgreSQL cluster: its CPU is the sum of its
// processes' (no one else's connections share it), and its round trips and
// sizes are this run's alone.

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

type ownPG struct {
	dir, bin string
	port     int
	as       []string // runuser -u postgres --, when running as root
}

// startOwnPG initialises and starts a PostgreSQL cluster on a free port,
// with the server's default settings (fsync and synchronous_commit on, as
// in production) and stops it at the end.
func startOwnPG() (*ownPG, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return nil, fmt.Errorf("PostgreSQL's initdb is not installed under /usr/lib/postgresql/*/bin: scripts/install-deps.sh bench installs it")
	}
	version := func(p string) int { v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p)))); return v }
	slices.SortFunc(bins, func(a, b string) int { return version(b) - version(a) })
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "capacity-pg-")
	if err != nil {
		return nil, err
	}
	atExit(func() { _ = os.RemoveAll(dir) })
	pg := &ownPG{dir: dir, bin: filepath.Dir(bins[0]), port: port}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, initdb needs another OS user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		pg.as = []string{"runuser", "-u", "postgres", "--"}
	}
	data := filepath.Join(dir, "data")
	if err := pg.run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		return nil, err
	}
	if err := pg.run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=100 -c shared_preload_libraries=pg_stat_statements", port, dir), "start"); err != nil {
		return nil, err
	}
	atExit(func() { _ = pg.run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop") })
	return pg, nil
}

func (pg *ownPG) run(name string, args ...string) error {
	path, argv := filepath.Join(pg.bin, name), args
	if len(pg.as) > 0 {
		path, argv = pg.as[0], append(append(slices.Clone(pg.as[1:]), filepath.Join(pg.bin, name)), args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, path, argv...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(pg.dir, "log"))
		return fmt.Errorf("%s %s: %w\n%s\n%s", name, strings.Join(args, " "), err, out, tail(log))
	}
	return nil
}

func (pg *ownPG) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, db)
}

// postmaster is the pid of the cluster's postmaster, from postmaster.pid.
func (pg *ownPG) postmaster() (int, error) {
	b, err := os.ReadFile(filepath.Join(pg.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

// createDB makes database name holding Django's django_session table with
// n sessions ("bench" and 27 digits, keys the db store accepts as they
// are: it keeps Django's untagged keys), each the Django-signed value of a
// ~100-byte session, and returns its dsn.
func (pg *ownPG) createDB(name string, n int) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	admin, err := sql.Open("pgx", pg.dsn("postgres"))
	if err != nil {
		return "", err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("CREATE DATABASE %s: %w", name, err)
	}
	dsn := pg.dsn(name)
	if err := fillSessionTable(ctx, dsn, n, "VACUUM ANALYZE"); err != nil {
		return "", err
	}
	return dsn, nil
}

// pgTableBytes is django_session's size with its indexes and TOAST, and
// its rows.
func pgTableBytes(dsn string) (bytes, rows int64, err error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	err = db.QueryRow(`SELECT pg_total_relation_size('django_session'), (SELECT count(*) FROM django_session)`).Scan(&bytes, &rows)
	return bytes, rows, err
}
