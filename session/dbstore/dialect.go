package dbstore

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is what differs between the databases: quoting, parameters, the
// table's column types as Django's migration makes them, how a time is
// stored, and how a conflict is reported.
type dialect struct {
	name string
	// quoteChar quotes identifiers: " (standard SQL) or ` (MySQL).
	quoteChar string
	// positional: $1, $2 (PostgreSQL) instead of ? (MySQL, SQLite).
	positional bool
	// maxNameLength is Django's max_name_length() for index names.
	maxNameLength int
	// createTable is CREATE TABLE IF NOT EXISTS with Django's column
	// types; %[1]s is the table, %[2]s the expire_date index name.
	createTable string
	// createIndex is the separate CREATE INDEX, or "" when createTable
	// holds the index already (MySQL has no CREATE INDEX IF NOT EXISTS).
	createIndex string
	// forUpdate locks the row read in Modify; SQLite locks the whole
	// database for writing at BEGIN IMMEDIATE instead.
	forUpdate string
	// timeArg is how a time is passed to the database.
	timeArg func(t time.Time) any
	// uniqueViolation reports an INSERT that lost a race for its key.
	uniqueViolation func(err error) bool
	// retryable reports a transaction the database aborted to break a
	// deadlock or a serialization conflict: running it again is safe.
	retryable func(err error) bool
}

var (
	postgresDialect = &dialect{
		name:          "postgres",
		quoteChar:     `"`,
		positional:    true,
		maxNameLength: 63,
		createTable:   `CREATE TABLE IF NOT EXISTS %[1]s ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" timestamp with time zone NOT NULL)`,
		createIndex:   `CREATE INDEX IF NOT EXISTS %[2]s ON %[1]s ("expire_date")`,
		forUpdate:     " FOR UPDATE",
		timeArg:       func(t time.Time) any { return t.UTC() },
		uniqueViolation: func(err error) bool {
			var pe *pgconn.PgError
			return errors.As(err, &pe) && pe.Code == "23505"
		},
		retryable: func(err error) bool {
			var pe *pgconn.PgError
			return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
		},
	}
	sqliteDialect = &dialect{
		name:          "sqlite",
		quoteChar:     `"`,
		maxNameLength: 200, // Django: no limit, so 200
		createTable:   `CREATE TABLE IF NOT EXISTS %[1]s ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL)`,
		createIndex:   `CREATE INDEX IF NOT EXISTS %[2]s ON %[1]s ("expire_date")`,
		// Django's SQLite backend stores a datetime as the text of
		// Python's str() of the naive UTC time, and compares such texts
		// in its queries (expire_date > now): a time must be written the
		// same way for the comparisons to agree.
		timeArg: func(t time.Time) any { return djangoSQLiteTime(t) },
		uniqueViolation: func(err error) bool {
			var se *sqlite.Error
			return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE)
		},
		retryable: func(error) bool { return false },
	}
	mysqlDialect = &dialect{
		name:          "mysql",
		quoteChar:     "`",
		maxNameLength: 64,
		// Django's column types; the index inside CREATE TABLE because
		// MySQL has no CREATE INDEX IF NOT EXISTS. utf8mb4 so that any
		// session text fits, whatever the database's default charset.
		createTable: "CREATE TABLE IF NOT EXISTS %[1]s (`session_key` varchar(40) NOT NULL PRIMARY KEY, `session_data` longtext NOT NULL, `expire_date` datetime(6) NOT NULL, INDEX %[2]s (`expire_date`)) CHARACTER SET utf8mb4",
		forUpdate:   " FOR UPDATE",
		timeArg:     func(t time.Time) any { return t.UTC() },
		uniqueViolation: func(err error) bool {
			var me *mysql.MySQLError
			return errors.As(err, &me) && me.Number == 1062
		},
		retryable: func(err error) bool {
			var me *mysql.MySQLError
			return errors.As(err, &me) && me.Number == 1213 // deadlock
		},
	}
)

// param is the i-th (from 1) statement parameter.
func (d *dialect) param(i int) string {
	if d.positional {
		return fmt.Sprintf("$%d", i)
	}
	return "?"
}

// quote quotes a checked identifier, each part of schema.table apart.
func (d *dialect) quote(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = d.quoteChar + p + d.quoteChar
	}
	return strings.Join(parts, ".")
}

// identifier is a table name Backend accepts: letters, digits and
// underscores, not starting with a digit, with an optional schema (or, on
// MySQL, database) before a dot. Nothing else reaches SQL text.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$`)

// CheckTable refuses a table name that Open refuses on every database:
// anything but letters, digits and underscores (at most 63, not starting
// with a digit), optionally schema.table.
func CheckTable(table string) error {
	if !identifier.MatchString(table) {
		return fmt.Errorf("table %q: want letters, digits and underscores (at most 63, not starting with a digit), optionally schema.table", table)
	}
	return nil
}

func checkTable(d *dialect, table string) error {
	if err := CheckTable(table); err != nil {
		return err
	}
	if d == sqliteDialect && strings.Contains(table, ".") {
		return fmt.Errorf("table %q: SQLite takes no schema; give the table name alone", table)
	}
	return nil
}

// indexName is the name Django's schema editor gives the expire_date index
// of table (BaseDatabaseSchemaEditor._create_index_name), so that a table
// created here is the table Django's migration would have created:
// django_session's is django_session_expire_date_a5c62663.
func (d *dialect) indexName(table string) string {
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		table = table[i+1:]
	}
	const column = "expire_date"
	sum := md5.Sum([]byte(table + column))
	hash := hex.EncodeToString(sum[:])[:8]
	name := table + "_" + column + "_" + hash
	if len(name) <= d.maxNameLength {
		return name
	}
	other := (d.maxNameLength-len(hash))/2 - 1
	name = table[:min(other, len(table))] + "_" + column[:min(other, len(column))] + "_" + hash
	if name[0] == '_' || (name[0] >= '0' && name[0] <= '9') {
		name = "D" + name[:len(name)-1]
	}
	return name
}

// djangoSQLiteTime is Python's str() of the naive UTC datetime, as Django
// writes it on SQLite: microseconds, omitted when zero.
func djangoSQLiteTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("2006-01-02 15:04:05.000000")
}

// scanTime reads an expire_date: a time from the PostgreSQL and MySQL
// drivers; from SQLite a time or the text Django (or this package) wrote,
// naive UTC, or with an offset.
func scanTime(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v.UTC(), nil
	case string:
		return parseTimeText(v)
	case []byte:
		return parseTimeText(string(v))
	}
	return time.Time{}, fmt.Errorf("reading expire_date: unexpected %T", v)
}

var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	time.RFC3339Nano,
}

func parseTimeText(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	// Not the value: it is a time, not session data, but keep logs tidy.
	return time.Time{}, errors.New("reading expire_date: not a time")
}
