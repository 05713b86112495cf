package hub

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/twinops/twinops/sas"
)

// Rights are the permissions of a shared access policy (bit flags).
type Rights uint8

// The rights of Azure IoT Hub's shared access policies.
const (
	RegistryRead Rights = 1 << iota
	RegistryWrite
	ServiceConnect
	DeviceConnect
)

var rightNames = []struct {
	r    Rights
	name string
}{{RegistryRead, "RegistryRead"}, {RegistryWrite, "RegistryWrite"}, {ServiceConnect, "ServiceConnect"}, {DeviceConnect, "DeviceConnect"}}

// Has reports whether r includes every right of want.
func (r Rights) Has(want Rights) bool { return r&want == want }

// String lists the rights, comma separated ("RegistryRead,ServiceConnect").
func (r Rights) String() string {
	var parts []string
	for _, n := range rightNames {
		if r&n.r != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, ",")
}

// MarshalText writes the rights as String does.
func (r Rights) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads rights written by MarshalText.
func (r *Rights) UnmarshalText(b []byte) error {
	*r = 0
	for p := range strings.SplitSeq(string(b), ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		found := false
		for _, n := range rightNames {
			if strings.EqualFold(p, n.name) {
				*r |= n.r
				found = true
			}
		}
		if !found {
			return fmt.Errorf("unknown right %q; rights are RegistryRead, RegistryWrite, ServiceConnect, DeviceConnect", p)
		}
	}
	return nil
}

// Policy is a shared access policy: a name, two keys (base64, 32 random bytes) and rights.
type Policy struct {
	Name         string `json:"name"`
	PrimaryKey   string `json:"primaryKey"`
	SecondaryKey string `json:"secondaryKey"`
	Rights       Rights `json:"rights"`
}

// defaultPolicies are Azure's default shared access policies.
var defaultPolicies = []struct {
	name   string
	rights Rights
}{
	{"iothubowner", RegistryRead | RegistryWrite | ServiceConnect | DeviceConnect},
	{"service", ServiceConnect},
	{"device", DeviceConnect},
	{"registryRead", RegistryRead},
	{"registryReadWrite", RegistryRead | RegistryWrite},
}

// policiesFile is the name of the policies file in the data directory.
const policiesFile = "policies.json"

// newKey returns 32 random bytes, base64: a symmetric key as Azure makes them.
func newKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b[:]), nil
}

// loadPolicies reads dataDir/policies.json, creating it (0600) with Azure's default
// policies and fresh keys on first start.
func loadPolicies(dataDir string) ([]Policy, error) {
	path := filepath.Join(dataDir, policiesFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createPolicies(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read access policies: %w", err)
	}
	var ps []Policy
	if err := json.Unmarshal(b, &ps); err != nil {
		return nil, fmt.Errorf("access policies in %s are not valid JSON (%v); fix or remove the file to create new keys", path, err)
	}
	for _, p := range ps {
		if p.Name == "" || p.PrimaryKey == "" {
			return nil, fmt.Errorf("access policies in %s: a policy has no name or no primary key; fix or remove the file", path)
		}
	}
	return ps, nil
}

// createPolicies writes the default policies with new keys to path (0600).
func createPolicies(path string) ([]Policy, error) {
	ps := make([]Policy, 0, len(defaultPolicies))
	for _, d := range defaultPolicies {
		k1, err := newKey()
		if err != nil {
			return nil, err
		}
		k2, err := newKey()
		if err != nil {
			return nil, err
		}
		ps = append(ps, Policy{Name: d.name, PrimaryKey: k1, SecondaryKey: k2, Rights: d.rights})
	}
	b, err := json.MarshalIndent(ps, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, append(b, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("write access policies: %w", err)
	}
	return ps, nil
}

// writeFileAtomic writes b to path through a synced temporary file and a rename.
func writeFileAtomic(path string, b []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ReadPolicies reads the access policies of the hub whose data directory is dataDir
// (without starting it); the CLI uses it for `twinops hub connection-string`.
func ReadPolicies(dataDir string) ([]Policy, error) {
	path := filepath.Join(dataDir, policiesFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no hub in %s (%v); start one with twinops hub --data %s", dataDir, err, dataDir)
	}
	return loadPolicies(dataDir)
}

// Policies returns the hub's shared access policies (copies).
func (h *Hub) Policies() []Policy {
	return append([]Policy(nil), h.policies...)
}

// policy returns the named policy (names compare exactly, as in Azure).
func (h *Hub) policy(name string) (Policy, bool) {
	for _, p := range h.policies {
		if p.Name == name {
			return p, true
		}
	}
	return Policy{}, false
}

// ServiceConnectionString returns the connection string of the named policy:
// HostName=...;SharedAccessKeyName=...;SharedAccessKey=...
func (h *Hub) ServiceConnectionString(policy string) (string, error) {
	return policyConnectionString(h.policies, h.cfg.Hostname, policy)
}

// PolicyConnectionString returns the connection string of a policy read with
// ReadPolicies, for a hub known by hostname.
func PolicyConnectionString(ps []Policy, hostname, policy string) (string, error) {
	return policyConnectionString(ps, hostname, policy)
}

func policyConnectionString(ps []Policy, hostname, policy string) (string, error) {
	var names []string
	for _, p := range ps {
		if p.Name == policy {
			cs := sas.ConnectionString{HostName: hostname, SharedAccessKeyName: p.Name, SharedAccessKey: p.PrimaryKey}
			return cs.String(), nil
		}
		names = append(names, p.Name)
	}
	return "", &Error{Status: 404, Code: CodeInvalidArgument,
		Message: fmt.Sprintf("no access policy %q; the policies are %s", policy, strings.Join(names, ", "))}
}
