package peer

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Client asks the pinned peer for its state over mutual TLS. Every exchange has one deadline, from dialing
// to the last byte, and an answer larger than MaxAnswer is cut off and refused.
type Client struct {
	Endpoint string // address:port of the peer's `preflight serve`
	Identity *Identity
	Peer     *Pin
	Timeout  time.Duration
	hc       *http.Client
}

// NewClient makes a client for endpoint, showing id and accepting only peer.
func NewClient(endpoint string, id *Identity, peer *Pin, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	tr := &http.Transport{
		Proxy:                  nil, // never through a proxy from the environment
		DialContext:            (&net.Dialer{Timeout: timeout}).DialContext,
		TLSClientConfig:        clientTLS(id, peer),
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxIdleConns:           1,
		IdleConnTimeout:        30 * time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 16 << 10,
		TLSNextProto:           map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
	}
	hc := &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("the peer redirected: refused") }}
	return &Client{Endpoint: endpoint, Identity: id, Peer: peer, Timeout: timeout, hc: hc}
}

// Exchange is how one request went: when it was sent and answered, and the peer's clock against ours.
type Exchange struct {
	Sent, Received time.Time
	Offset         time.Duration // the peer's clock minus ours, at the midpoint of the exchange
	Bytes          int
}

// Fetch asks the peer for its state of operation op (empty: the checkpoint only), telling it the size of
// its log last witnessed here. The error says what went wrong in words an engineer can act on.
func (c *Client) Fetch(ctx context.Context, op string, since int64) (*State, Exchange, error) {
	path := "/v1/checkpoint"
	if op != "" {
		if !ValidOperation(op) {
			return nil, Exchange{}, fmt.Errorf("operation id %q cannot be asked for: letters, digits, '.', '_' and '-'", op)
		}
		path = "/v1/operations/" + url.PathEscape(op)
	}
	u := "https://" + c.Endpoint + path + "?since=" + strconv.FormatInt(since, 10)
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, Exchange{}, err
	}
	ex := Exchange{Sent: time.Now()}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, ex, c.explain(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	ex.Received, ex.Bytes = time.Now(), len(body)
	switch {
	case err != nil:
		return nil, ex, c.explain(ctx, err)
	case len(body) > MaxAnswer:
		return nil, ex, fmt.Errorf("%s sent more than %d MiB: refused (an answer is a few hundred kilobytes)", c.Peer.ID, MaxAnswer>>20)
	case resp.StatusCode != http.StatusOK:
		var e apiError
		_ = json.Unmarshal(body, &e)
		return nil, ex, fmt.Errorf("%s answered %s: %s", c.Peer.ID, resp.Status, orText(e.Error, "no reason given"))
	}
	st := &State{}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(st); err != nil {
		return nil, ex, fmt.Errorf("%s's answer is not a peer state: %v", c.Peer.ID, err)
	}
	ex.Offset = st.Now.Sub(ex.Sent.Add(ex.Received.Sub(ex.Sent) / 2))
	return st, ex, nil
}

// explain turns a transport error into what happened.
func (c *Client) explain(ctx context.Context, err error) error {
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return fmt.Errorf("%s at %s did not answer within %s", c.Peer.ID, c.Endpoint, c.Timeout)
	case ctx.Err() != nil:
		return fmt.Errorf("stopped: %v", context.Cause(ctx))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s at %s: %v", c.Peer.ID, c.Endpoint, err)
}

// Close drops idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
