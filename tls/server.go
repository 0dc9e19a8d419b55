package tls

import (
	cryptotls "crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ServerCertOptions say where a server's certificate comes from: a
// certificate file and a key file (PEM, the certificate file holding the
// chain, leaf first), or, when both are empty, a self-signed certificate
// for Hostname.
type ServerCertOptions struct {
	CertFile string
	KeyFile  string
	Hostname string
}

// ServerCertificates is a server's certificate, safe for concurrent use:
// handshakes read it through GetCertificate while Reload replaces it, so
// new connections get the new certificate and connections already
// established keep theirs.
type ServerCertificates struct {
	opts   ServerCertOptions
	cur    atomic.Pointer[cryptotls.Certificate]
	reload sync.Mutex // one Reload at a time
}

// NewServerCertificates loads the certificate and key files, or makes a
// self-signed certificate for opts.Hostname when no file is given. It
// fails when only one of the files is given, when they cannot be read or
// do not match, or when there is neither a file nor a host name.
func NewServerCertificates(opts ServerCertOptions) (*ServerCertificates, error) {
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return nil, errors.New("tls: the certificate file and the key file go together: give both or neither")
	}
	c := &ServerCertificates{opts: opts}
	if opts.CertFile == "" {
		cert, err := SelfSigned(opts.Hostname)
		if err != nil {
			return nil, err
		}
		c.cur.Store(&cert)
		return c, nil
	}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// SelfSigned reports whether the certificate is the self-signed default.
func (c *ServerCertificates) SelfSigned() bool { return c.opts.CertFile == "" }

// Reload reads the certificate and key files again (on SIGHUP, say). On
// failure the certificate in use stays and the error names the files. It
// does nothing for a self-signed certificate.
func (c *ServerCertificates) Reload() error {
	if c.SelfSigned() {
		return nil
	}
	c.reload.Lock()
	defer c.reload.Unlock()
	cert, err := cryptotls.LoadX509KeyPair(c.opts.CertFile, c.opts.KeyFile)
	if err != nil {
		return fmt.Errorf("tls: loading %s and %s: %w", c.opts.CertFile, c.opts.KeyFile, err)
	}
	if cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return fmt.Errorf("tls: parsing %s: %w", c.opts.CertFile, err)
		}
		cert.Leaf = leaf
	}
	c.cur.Store(&cert)
	return nil
}

// Certificate returns the certificate in use; its Leaf is set.
func (c *ServerCertificates) Certificate() *cryptotls.Certificate { return c.cur.Load() }

// GetCertificate serves crypto/tls.Config.GetCertificate: the certificate
// in use, whatever the client asked for (a mail server has one name, and
// clients seldom check it).
func (c *ServerCertificates) GetCertificate(*cryptotls.ClientHelloInfo) (*cryptotls.Certificate, error) {
	return c.cur.Load(), nil
}

// ServerConfig returns the configuration a server uses for STARTTLS:
// TLS 1.2 or 1.3 only, with Go's default cipher suites, and the
// certificate from certs, reloads included. Client certificates are not
// requested.
func ServerConfig(certs *ServerCertificates) *cryptotls.Config {
	return &cryptotls.Config{
		MinVersion:     MinVersion,
		GetCertificate: certs.GetCertificate,
	}
}
