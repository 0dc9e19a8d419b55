package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// minRSABits is the least RSA size accepted (RFC 8301 §3.2);
// goodRSABits the least that draws no warning.
const (
	minRSABits  = 1024
	goodRSABits = 2048
)

// loadKeys checks every Key and reads its file, returning the keys by
// domain.
func (f *Filter) loadKeys(keys []Key, errs *errorList) map[string][]signingKey {
	out := map[string][]signingKey{}
	seen := map[string]int{}
	for i, k := range keys {
		prefix := fmt.Sprintf("keys[%d]", i)
		domain, err := checkDomain(k.Domain, false)
		if err != nil {
			errs.add(prefix+".domain", "%v", err)
		}
		selector, serr := checkDomain(k.Selector, true)
		if serr != nil {
			errs.add(prefix+".selector", "%v", serr)
		}
		if err == nil && serr == nil {
			id := selector + "._domainkey." + domain
			if j, dup := seen[id]; dup {
				errs.add(prefix, "%s is also keys[%d]", id, j)
			}
			seen[id] = i
		}
		signer, kerr := f.keySigner(k)
		if kerr != nil {
			errs.add(prefix+".key_file", "%v", kerr)
			continue
		}
		if err == nil && serr == nil {
			out[domain] = append(out[domain], signingKey{domain: domain, selector: selector, signer: signer})
		}
	}
	return out
}

// keySigner returns k's Signer, or the key read from its file.
func (f *Filter) keySigner(k Key) (crypto.Signer, error) {
	if k.Signer != nil {
		return k.Signer, checkSigner(k.Signer)
	}
	if k.KeyFile == "" {
		return nil, errors.New("missing (want a PEM file with the private key)")
	}
	st, err := os.Stat(k.KeyFile)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o004 != 0 {
		f.log.Warn("dkim: private key file is readable by everyone", "file", k.KeyFile,
			"domain", k.Domain, "selector", k.Selector, "mode", st.Mode().Perm().String())
	}
	data, err := os.ReadFile(k.KeyFile)
	if err != nil {
		return nil, err
	}
	s, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.KeyFile, err)
	}
	if err := checkSigner(s); err != nil {
		return nil, fmt.Errorf("%s: %w", k.KeyFile, err)
	}
	if r, ok := s.(*rsa.PrivateKey); ok && r.N.BitLen() < goodRSABits {
		f.log.Warn("dkim: RSA key under 2048 bits", "file", k.KeyFile, "bits", r.N.BitLen())
	}
	return s, nil
}

// parseKey reads the first private key PEM block of data: PKCS #1 RSA or
// PKCS #8 RSA or Ed25519.
func parseKey(data []byte) (crypto.Signer, error) {
	for len(data) > 0 {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "RSA PRIVATE KEY":
			if _, enc := b.Headers["Proc-Type"]; enc {
				return nil, errors.New("the key is encrypted: DKIM keys must be readable without a passphrase")
			}
			return x509.ParsePKCS1PrivateKey(b.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, err
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("unsupported key type %T", k)
			}
			return s, nil
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the key is encrypted: DKIM keys must be readable without a passphrase")
		}
	}
	return nil, errors.New(`no "PRIVATE KEY" or "RSA PRIVATE KEY" PEM block`)
}

// checkSigner accepts RSA keys of at least minRSABits and Ed25519 keys.
func checkSigner(s crypto.Signer) error {
	switch k := s.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits: want at least %d (RFC 8301), better 2048", k.N.BitLen(), minRSABits)
		}
		return nil
	case ed25519.PrivateKey:
		return nil
	}
	return fmt.Errorf("unsupported key type %T: want RSA or Ed25519", s)
}
