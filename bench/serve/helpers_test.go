//go:build linux

package servebench

import (
	"bufio"
	"crypto/sha256"
	"strings"
)

func newReader(s string) *bufio.Reader {
	return bufio.NewReaderSize(strings.NewReader(s), 64<<10)
}

func sha256Of(s string) [32]byte { return sha256.Sum256([]byte(s)) }
