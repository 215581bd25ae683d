package dbstore

import (
	"strings"
	"testing"
	"time"
)

// Django's names, from `manage.py sqlmigrate sessions 0001` and from
// BaseDatabaseSchemaEditor._create_index_name run on the long names.
func TestIndexName(t *testing.T) {
	for _, tc := range []struct {
		d           *dialect
		table, want string
	}{
		{postgresDialect, "django_session", "django_session_expire_date_a5c62663"},
		{sqliteDialect, "django_session", "django_session_expire_date_a5c62663"},
		{mysqlDialect, "django_session", "django_session_expire_date_a5c62663"},
		{postgresDialect, "myapp.django_session", "django_session_expire_date_a5c62663"},
		{postgresDialect, strings.Repeat("s", 60), strings.Repeat("s", 26) + "_expire_date_" + "1ff0cd10"},
	} {
		if got := tc.d.indexName(tc.table); got != tc.want {
			t.Errorf("%s: indexName(%q) = %q; want %q", tc.d.name, tc.table, got, tc.want)
		}
		if got := tc.d.indexName(tc.table); len(got) > tc.d.maxNameLength {
			t.Errorf("%s: indexName(%q) is %d long; the limit is %d", tc.d.name, tc.table, len(got), tc.d.maxNameLength)
		}
	}
}

func TestDjangoSQLiteTime(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC), "2031-01-02 03:04:05"},
		{time.Date(2031, 1, 2, 3, 4, 5, 120000, time.UTC), "2031-01-02 03:04:05.000120"},
		{time.Date(2031, 1, 2, 5, 4, 5, 999, time.FixedZone("", 2*3600)), "2031-01-02 03:04:05"},
	} {
		if got := djangoSQLiteTime(tc.t); got != tc.want {
			t.Errorf("djangoSQLiteTime(%v) = %q; want %q", tc.t, got, tc.want)
		}
		back, err := parseTimeText(tc.want)
		if err != nil || !back.Equal(tc.t.Truncate(time.Microsecond)) {
			t.Errorf("parseTimeText(%q) = %v, %v; want %v", tc.want, back, err, tc.t)
		}
	}
}
