// Package e2e holds the end-to-end tests: the real preflight binary run inside the network-namespace lab
// (lab/netlab) against lab profiles, one scenario per planted fault. The tests need root and the Debian
// packages netlab.Packages; elsewhere they skip and say why.
package e2e
