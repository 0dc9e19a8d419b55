package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluice-mta/sluice/filter/dkim"
)

// keygenOptions are dkim-keygen's flags.
type keygenOptions struct {
	domain, selector string
	keyType          string // "rsa" or "ed25519"
	bits             int    // RSA modulus size
	bitsSet          bool   // --bits was given
	dir              string
}

// rsaKeyBits are the RSA sizes dkim-keygen makes: 1024 is what RFC 8301
// still accepts, not what a new key should be.
var rsaKeyBits = []int{2048, 3072, 4096}

func newDKIMKeygenCmd(stdout, stderr io.Writer) *cobra.Command {
	var o keygenOptions
	cmd := &cobra.Command{
		Use:   "dkim-keygen --domain D --selector S [--type rsa|ed25519] [--bits 2048] [--dir DIR]",
		Short: "Generate a DKIM key; print its DNS TXT record and [[filters.dkim.keys]] entry",
		Long: "dkim-keygen writes a new DKIM private key (PEM, PKCS #8, mode 0600) to DIR/D.S.pem,\n" +
			"never over an existing file, then prints on stdout the TXT record to publish at\n" +
			"S._domainkey.D and the [[filters.dkim.keys]] block to add to the configuration.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.bitsSet = cmd.Flags().Changed("bits")
			if err := o.check(cmd.CommandPath()); err != nil {
				return err
			}
			return o.run(stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.domain, "domain", "", "the signing `DOMAIN` (d=), e.g. example.com")
	f.StringVar(&o.selector, "selector", "", "the `SELECTOR` (s=): the key is published at SELECTOR._domainkey.DOMAIN")
	f.StringVar(&o.keyType, "type", "rsa", "key `TYPE`: rsa or ed25519 (RFC 8463; not every verifier knows it)")
	f.IntVar(&o.bits, "bits", 2048, "RSA key size in `BITS`: 2048, 3072 or 4096")
	f.StringVar(&o.dir, "dir", ".", "`DIR`ectory for the key file DOMAIN.SELECTOR.pem")
	return cmd
}

// check validates the flags as usage errors, lower-casing the domain and
// selector (and dropping a final dot) as the dkim filter does.
func (o *keygenOptions) check(path string) error {
	switch {
	case o.domain == "":
		return usageErr("%s: --domain is required", path)
	case o.selector == "":
		return usageErr("%s: --selector is required", path)
	}
	switch o.keyType {
	case "rsa":
		if err := checkRSABits(o.bits); err != nil {
			return usageErr("%s: --bits %d: %v", path, o.bits, err)
		}
	case "ed25519":
		if o.bitsSet {
			return usageErr("%s: --bits is for RSA keys (Ed25519 keys have one size)", path)
		}
	default:
		return usageErr("%s: --type %q: want rsa or ed25519", path, o.keyType)
	}
	if err := checkKeyName(o.domain, o.selector); err != nil {
		return usageErr("%s: %v", path, err)
	}
	o.domain = strings.ToLower(strings.TrimSuffix(o.domain, "."))
	o.selector = strings.ToLower(strings.TrimSuffix(o.selector, "."))
	return nil
}

// checkRSABits accepts the sizes of rsaKeyBits.
func checkRSABits(bits int) error {
	for _, b := range rsaKeyBits {
		if bits == b {
			return nil
		}
	}
	if bits < rsaKeyBits[0] {
		return errors.New("too weak: want 2048, 3072 or 4096")
	}
	return errors.New("want 2048, 3072 or 4096")
}

// checkKeyName has the dkim filter judge the domain and selector, with a
// throw-away key, so keygen never writes a name the filter would refuse.
func checkKeyName(domain, selector string) error {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	_, err = dkim.New(dkim.Options{
		NoVerify: true,
		Keys:     []dkim.Key{{Domain: domain, Selector: selector, Signer: key}},
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err == nil {
		return nil
	}
	var msgs []string
	for _, e := range unjoin(err) {
		var oe *dkim.OptionError
		if errors.As(e, &oe) {
			flag := "--" + oe.Key[strings.LastIndexByte(oe.Key, '.')+1:]
			msgs = append(msgs, flag+": "+oe.Err.Error())
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// run generates the key, writes it and prints the DNS record and the
// configuration block.
func (o *keygenOptions) run(stdout, stderr io.Writer) error {
	key, err := generateKey(o.keyType, o.bits)
	if err != nil {
		return err
	}
	path, err := filepath.Abs(filepath.Join(o.dir, o.domain+"."+o.selector+".pem"))
	if err != nil {
		return err
	}
	if err := writeKey(path, key); err != nil {
		return err
	}
	record, err := dnsRecord(o.domain, o.selector, key.Public())
	if err != nil {
		return err
	}
	size := "Ed25519"
	if o.keyType == "rsa" {
		size = fmt.Sprintf("RSA %d bits", o.bits)
	}
	fmt.Fprintf(stderr, "sluice dkim-keygen: wrote %s (%s, mode 0600)\n", path, size)
	_, err = fmt.Fprintf(stdout, "; DNS: publish in the zone of %s\n%s\n\n"+
		"# sluice configuration: add under [filters.dkim]\n%s",
		o.domain, record, keysBlock(o.domain, o.selector, path))
	return err
}

// generateKey makes a new private key of keyType.
func generateKey(keyType string, bits int) (crypto.Signer, error) {
	if keyType == "ed25519" {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return rsa.GenerateKey(rand.Reader, bits)
}

// writeKey writes key to path as a PKCS #8 "PRIVATE KEY" PEM block, mode
// 0600, refusing to replace an existing file.
func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: not overwriting it (remove it, or choose another selector)", path)
	}
	if err != nil {
		return err
	}
	err = f.Chmod(0o600) // whatever the umask
	if err == nil {
		err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// dnsRecord is the zone-file TXT record publishing pub at
// selector._domainkey.domain (RFC 6376 §3.6.1; RFC 8463 for Ed25519).
func dnsRecord(domain, selector string, pub crypto.PublicKey) (string, error) {
	var k string
	var raw []byte
	switch p := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			return "", err
		}
		k, raw = "rsa", der
	case ed25519.PublicKey:
		k, raw = "ed25519", p
	default:
		return "", fmt.Errorf("unsupported key type %T", pub)
	}
	strs := append([]string{"v=DKIM1; k=" + k + "; "}, splitTXT("p="+base64.StdEncoding.EncodeToString(raw))...)
	return fmt.Sprintf("%s._domainkey.%s. IN TXT ( \"%s\" )", selector, domain,
		strings.Join(strs, "\"\n\t\"")), nil
}

// splitTXT cuts s into character-strings of at most 255 bytes, the most
// one holds (RFC 1035 §3.3.14); verifiers join them (RFC 6376 §3.6.2.2).
func splitTXT(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}

// keysBlock is the [[filters.dkim.keys]] entry for the key.
func keysBlock(domain, selector, keyFile string) string {
	return "[[filters.dkim.keys]]\n" +
		"domain = " + tomlString(domain) + "\n" +
		"selector = " + tomlString(selector) + "\n" +
		"key_file = " + tomlString(keyFile) + "\n"
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
