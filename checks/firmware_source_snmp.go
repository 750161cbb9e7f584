package checks

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/gosnmp/gosnmp"
)

// sysDescrOID is SNMPv2-MIB::sysDescr.0, where appliances name their model and firmware.
const sysDescrOID = "1.3.6.1.2.1.1.1.0"

var (
	snmpAuth = map[string]gosnmp.SnmpV3AuthProtocol{"SHA": gosnmp.SHA, "SHA224": gosnmp.SHA224,
		"SHA256": gosnmp.SHA256, "SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512, "MD5": gosnmp.MD5}
	snmpPriv = map[string]gosnmp.SnmpV3PrivProtocol{"AES": gosnmp.AES, "AES192": gosnmp.AES192,
		"AES256": gosnmp.AES256, "AES192C": gosnmp.AES192C, "AES256C": gosnmp.AES256C, "DES": gosnmp.DES}
)

// readSNMP asks the appliance for sysDescr.0 and finds the version in it. gosnmp opens its own socket, so
// the target's scope is checked first and again in the socket's Control hook.
func (s *FirmwareSpec) readSNMP(ctx context.Context, env *Env, src Evidence) (reading, error) {
	port := cmp.Or(s.Source.Port, 161)
	addr, t, err := env.Addr(s.Source.Target, port)
	version := cmp.Or(s.Source.Version, "2c")
	src["target"], src["address"], src["version"], src["oid"] = s.Source.Target, addr, version, sysDescrOID
	if err != nil {
		return reading{}, err
	}
	timeout := s.timeout(env)
	g := &gosnmp.GoSNMP{
		Target: t.Address.String(), Port: uint16(port), Transport: "udp",
		Timeout: timeout, Retries: 1, MaxOids: 1, Context: ctx,
		Control: env.Dialer(timeout).Control,
	}
	if err := s.Source.snmpCredentials(g, version); err != nil {
		return reading{}, err
	}
	if err := g.Connect(); err != nil {
		return reading{}, fmt.Errorf("snmp %s: %w", addr, err)
	}
	defer g.Conn.Close()
	// gosnmp waits out its timeout before it looks at the context; closing the socket ends the wait now.
	stop := context.AfterFunc(ctx, func() { g.Conn.Close() })
	defer stop()
	pkt, err := g.Get([]string{sysDescrOID})
	if err != nil {
		return reading{}, fmt.Errorf("snmp get sysDescr from %s: %w", addr, err)
	}
	if pkt.Error != gosnmp.NoError {
		return reading{}, fmt.Errorf("snmp get sysDescr from %s: agent answered %v", addr, pkt.Error)
	}
	if len(pkt.Variables) != 1 || pkt.Variables[0].Type != gosnmp.OctetString {
		return reading{}, fmt.Errorf("snmp get sysDescr from %s: no sysDescr in the answer", addr)
	}
	descr, _ := pkt.Variables[0].Value.([]byte)
	v, err := s.Source.extract(string(descr))
	return reading{version: v, raw: bounded(descr)}, err
}

// snmpCredentials fills the community (v2c) or the USM user (v3) from the environment.
func (src *FirmwareSource) snmpCredentials(g *gosnmp.GoSNMP, version string) error {
	fromEnv := func(name, what string) (string, error) {
		v := os.Getenv(name)
		if v == "" {
			return "", fmt.Errorf("environment variable %s (the SNMP %s) is not set", name, what)
		}
		return v, nil
	}
	if version == "2c" {
		community, err := fromEnv(src.CommunityEnv, "community")
		g.Version, g.Community = gosnmp.Version2c, community
		return err
	}
	usm := &gosnmp.UsmSecurityParameters{UserName: src.User, AuthenticationProtocol: snmpAuth[strings.ToUpper(src.AuthProtocol)]}
	var err error
	if usm.AuthenticationPassphrase, err = fromEnv(src.AuthEnv, "v3 authentication passphrase"); err != nil {
		return err
	}
	g.MsgFlags = gosnmp.AuthNoPriv
	if src.PrivProtocol != "" {
		usm.PrivacyProtocol = snmpPriv[strings.ToUpper(src.PrivProtocol)]
		if usm.PrivacyPassphrase, err = fromEnv(src.PrivEnv, "v3 privacy passphrase"); err != nil {
			return err
		}
		g.MsgFlags = gosnmp.AuthPriv
	}
	g.Version, g.SecurityModel, g.SecurityParameters = gosnmp.Version3, gosnmp.UserSecurityModel, usm
	return nil
}

// checkSNMP validates the SNMP parameters: v2c takes a community from the environment; v3 needs a user
// with authentication (noAuthNoPriv would let anyone answer for the appliance).
func (src *FirmwareSource) checkSNMP(v *Validator) {
	switch src.Version {
	case "", "2c":
		v.Required("source.community_env", src.CommunityEnv != "")
		for _, f := range []struct{ name, val string }{{"user", src.User}, {"auth_protocol", src.AuthProtocol},
			{"auth_env", src.AuthEnv}, {"priv_protocol", src.PrivProtocol}, {"priv_env", src.PrivEnv}} {
			if f.val != "" {
				v.Errorf("source."+f.name, "source.%s is for SNMP v3; this source uses v2c", f.name)
			}
		}
	case "3":
		if src.CommunityEnv != "" {
			v.Errorf("source.community_env", "community_env is for SNMP v2c; v3 uses user, auth_env and priv_env")
		}
		v.Required("source.user", src.User != "")
		if _, ok := snmpAuth[strings.ToUpper(src.AuthProtocol)]; !ok {
			v.Errorf("source.auth_protocol", "auth_protocol %q: one of SHA, SHA224, SHA256, SHA384, SHA512, MD5", src.AuthProtocol)
		}
		v.Required("source.auth_env", src.AuthEnv != "")
		if src.PrivProtocol != "" {
			if _, ok := snmpPriv[strings.ToUpper(src.PrivProtocol)]; !ok {
				v.Errorf("source.priv_protocol", "priv_protocol %q: one of AES, AES192, AES256, AES192C, AES256C, DES", src.PrivProtocol)
			}
			v.Required("source.priv_env", src.PrivEnv != "")
		} else if src.PrivEnv != "" {
			v.Errorf("source.priv_protocol", "priv_env is set but priv_protocol is not")
		}
	default:
		v.Errorf("source.version", "SNMP version %q: write \"2c\" or \"3\"", src.Version)
	}
}
