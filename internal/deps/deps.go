package deps
import (
 _ "modernc.org/sqlite"
 _ "github.com/jackc/pgx/v5"
 _ "go.yaml.in/yaml/v3"
 _ "golang.org/x/mod/sumdb/tlog"
 _ "golang.org/x/mod/sumdb/note"
 _ "github.com/nyaruka/phonenumbers"
 _ "github.com/google/go-cmp/cmp"
 _ "golang.org/x/crypto/hkdf"
)
