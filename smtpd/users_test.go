package smtpd

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

func bcryptOf(t *testing.T, pass string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func argon2Of(pass string) string {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(pass), salt, 1, 1024, 1, 32)
	return "$argon2id$v=19$m=1024,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
}

func writeUsers(t *testing.T, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestUsersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	writeUsers(t, path, "# users\n\nann:"+bcryptOf(t, "secret")+"\nbob: "+argon2Of("hunter2")+"\n")
	u, err := LoadUsersFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		user, pass string
		want       bool
	}{
		{"ann", "secret", true}, {"ann", "Secret", false}, {"bob", "hunter2", true},
		{"bob", "secret", false}, {"carol", "secret", false}, {"", "", false},
	}
	for _, tt := range tests {
		if ok, err := u.Authenticate(ctx, tt.user, tt.pass); ok != tt.want || err != nil {
			t.Errorf("Authenticate(%q, %q) = %v, %v", tt.user, tt.pass, ok, err)
		}
	}
	writeUsers(t, path, "carol:"+bcryptOf(t, "pw")+"\n")
	if err := u.Reload(); err != nil || u.Len() != 1 {
		t.Fatalf("Reload: %v, %d users", err, u.Len())
	}
	if ok, _ := u.Authenticate(ctx, "ann", "secret"); ok {
		t.Error("a removed user still authenticates")
	}
	writeUsers(t, path, "broken line\n")
	if err := u.Reload(); err == nil || u.Len() != 1 {
		t.Fatalf("a bad reload: %v, %d users", err, u.Len())
	}
}

func TestUsersFileErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		content, want string
	}{
		{"ann\n", "users:1: want user:hash"},
		{"ann:secret\n", `users:1: user "ann": unknown hash format`},
		{"# c\nann:$2a$10$short\n", `users:2: user "ann": bad bcrypt hash`},
		{"ann:$argon2id$v=19$m=9999999,t=1,p=1$MDEyMzQ1Njc$MDEyMzQ1Njc4OWFiY2RlZg\n", "out of range"},
		{"ann:$argon2id$v=18$m=1,t=1,p=1$a$b\n", "want $argon2id$v=19"},
		{"ann:" + argon2Of("x") + "\nann:" + argon2Of("y") + "\n", `users:2: user "ann" listed twice`},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, "users")
		writeUsers(t, path, tt.content)
		_, err := LoadUsersFile(path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one containing %q", tt.content, err, tt.want)
		}
	}
	if _, err := LoadUsersFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file loaded")
	}
}
