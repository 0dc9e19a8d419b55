package smtpclient

import (
	cryptotls "crypto/tls"
)

// tlsServerConfig is a server configuration presenting cert.
func tlsServerConfig(cert cryptotls.Certificate) *cryptotls.Config {
	return &cryptotls.Config{Certificates: []cryptotls.Certificate{cert}, MinVersion: cryptotls.VersionTLS10}
}
