package protocol

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxHostPart leaves room for "_" and 32 hex digits within MaxNodeIDLen.
const maxHostPart = MaxNodeIDLen - 33

// NewNodeID returns a fresh worker id of the form "<hostname>_<32 lowercase
// hex digits>", like Python workers (hostname, "_", uuid4().hex). The master
// sorts workers by id and takes the part before the first "_" as the host
// name when spreading users across hosts, so underscores in the host name
// are replaced with "-". The host part is also made valid UTF-8 without
// control characters, shortened to fit the 255-byte limit, and is
// "localhost" when the host name is unknown. The random part comes from
// crypto/rand.
func NewNodeID() string {
	host, err := os.Hostname()
	if err != nil {
		host = ""
	}
	var suffix [16]byte
	_, _ = rand.Read(suffix[:]) // crypto/rand.Read never fails on supported platforms
	return sanitizeHost(host) + "_" + hex.EncodeToString(suffix[:])
}

// sanitizeHost makes a host name usable as the first part of a node id.
func sanitizeHost(host string) string {
	host = strings.ToValidUTF8(host, "-")
	host = strings.Map(func(r rune) rune {
		if r == '_' || unicode.IsControl(r) || unicode.IsSpace(r) {
			return '-'
		}
		return r
	}, host)
	for len(host) > maxHostPart {
		_, size := utf8.DecodeLastRuneInString(host)
		host = host[:len(host)-size]
	}
	if host == "" {
		return "localhost"
	}
	return host
}
