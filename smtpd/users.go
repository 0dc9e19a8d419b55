package smtpd

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// UsersFile is an Authenticator backed by a file (smtp.auth.users_file):
// one "user:hash" per line, blank lines and lines starting with "#"
// ignored. A hash is bcrypt ("$2a$", "$2b$", "$2y$", as htpasswd -B and
// mkpasswd make) or argon2id in the PHC format
// ("$argon2id$v=19$m=65536,t=3,p=4$SALT$HASH", salt and hash in unpadded
// base64, as the argon2 tool prints). Reload reads the file again; a
// failed reload keeps the users in use. It is safe for concurrent use;
// at most GOMAXPROCS password checks run at once, so that AUTH cannot
// exhaust CPU or memory.
type UsersFile struct {
	path  string
	mu    sync.RWMutex
	users map[string]passwordHash
	dummy passwordHash  // a user's hash, checked for unknown users so that timing does not tell them
	sem   chan struct{} // bounds concurrent checks
}

// passwordHash checks one password.
type passwordHash interface {
	check(password string) bool
}

// LoadUsersFile reads the users file at path.
func LoadUsersFile(path string) (*UsersFile, error) {
	u := &UsersFile{path: path, sem: make(chan struct{}, runtime.GOMAXPROCS(0))}
	if err := u.Reload(); err != nil {
		return nil, err
	}
	return u, nil
}

// Reload reads the file again.
func (u *UsersFile) Reload() error {
	f, err := os.Open(u.path)
	if err != nil {
		return fmt.Errorf("smtpd: users file: %w", err)
	}
	defer f.Close()
	users, first, err := parseUsers(f, u.path)
	if err != nil {
		return err
	}
	u.mu.Lock()
	u.users, u.dummy = users, first
	u.mu.Unlock()
	return nil
}

// Len returns the number of users.
func (u *UsersFile) Len() int {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return len(u.users)
}

// Authenticate implements Authenticator.
func (u *UsersFile) Authenticate(ctx context.Context, username, password string) (bool, error) {
	u.mu.RLock()
	h, ok := u.users[username]
	if !ok {
		h = u.dummy
	}
	u.mu.RUnlock()
	if h == nil {
		return false, nil // no users at all
	}
	select {
	case u.sem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-u.sem }()
	return h.check(password) && ok, nil
}

// parseUsers reads "user:hash" lines, and returns the users and the
// first user's hash; errors name the file and line.
func parseUsers(r io.Reader, name string) (users map[string]passwordHash, first passwordHash, err error) {
	users = map[string]passwordHash{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" || strings.ContainsAny(user, " \t") {
			return nil, nil, fmt.Errorf("smtpd: %s:%d: want user:hash", name, n)
		}
		if _, dup := users[user]; dup {
			return nil, nil, fmt.Errorf("smtpd: %s:%d: user %q listed twice", name, n, user)
		}
		h, err := parseHash(strings.TrimSpace(hash))
		if err != nil {
			return nil, nil, fmt.Errorf("smtpd: %s:%d: user %q: %w", name, n, user, err)
		}
		users[user] = h
		if first == nil {
			first = h
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("smtpd: %s: %w", name, err)
	}
	return users, first, nil
}

func parseHash(s string) (passwordHash, error) {
	switch {
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		if _, err := bcrypt.Cost([]byte(s)); err != nil {
			return nil, fmt.Errorf("bad bcrypt hash: %w", err)
		}
		return bcryptHash(s), nil
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2(s)
	}
	return nil, errors.New("unknown hash format (want bcrypt $2a$/$2b$/$2y$ or $argon2id$)")
}

type bcryptHash string

func (h bcryptHash) check(password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(h), []byte(password)) == nil
}

// argon2Hash is an argon2id hash with its parameters.
type argon2Hash struct {
	time, memory uint32
	threads      uint8
	salt, key    []byte
}

// argon2 limits: a users file should not be able to take the server down.
const (
	maxArgon2Memory = 1 << 20 // KiB: 1 GiB
	maxArgon2Time   = 64
)

// parseArgon2 parses "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH".
func parseArgon2(s string) (passwordHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[2] != "v=19" {
		return nil, errors.New("bad argon2id hash: want $argon2id$v=19$m=M,t=T,p=P$SALT$HASH")
	}
	var h argon2Hash
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad argon2id parameter %q", kv)
		}
		switch k {
		case "m":
			h.memory = uint32(n)
		case "t":
			h.time = uint32(n)
		case "p":
			if n > 255 {
				return nil, fmt.Errorf("bad argon2id parameter %q", kv)
			}
			h.threads = uint8(n)
		default:
			return nil, fmt.Errorf("bad argon2id parameter %q", kv)
		}
	}
	if h.memory == 0 || h.memory > maxArgon2Memory || h.time == 0 || h.time > maxArgon2Time || h.threads == 0 {
		return nil, fmt.Errorf("argon2id parameters %s out of range", parts[3])
	}
	var err1, err2 error
	h.salt, err1 = base64.RawStdEncoding.DecodeString(parts[4])
	h.key, err2 = base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(h.salt) < 8 || len(h.key) < 16 {
		return nil, errors.New("bad argon2id salt or hash")
	}
	return h, nil
}

func (h argon2Hash) check(password string) bool {
	k := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(k, h.key) == 1
}
