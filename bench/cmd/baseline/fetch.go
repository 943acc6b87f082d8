package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

type fetchOptions struct {
	target  string
	event   string
	want    string
	timeout time.Duration
}

// statusDoc is the part of Foyer's status document the helpers read.
type statusDoc struct {
	State          string `json:"state"`
	Position       uint64 `json:"position"`
	Ticket         string `json:"ticket"`
	AdmissionToken string `json:"admission_token"`
	RefreshAfterMS int    `json:"refresh_after_ms"`
}

// fetch joins o.event as a new cookie-less visitor. For "ticket" it requires
// the visitor to be waiting and returns the ticket; for "token" it polls the
// status with the ticket until Foyer admits the visitor and returns the
// admission token.
func fetch(ctx context.Context, o fetchOptions) (string, error) {
	if o.want != "token" && o.want != "ticket" {
		return "", fmt.Errorf("fetch: --want %q, want token or ticket", o.want)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	base := strings.TrimRight(o.target, "/") + "/_foyer/v1/events/" + o.event
	doc, err := call(ctx, fasthttp.MethodPost, base+"/join", "")
	if err != nil {
		return "", err
	}
	if o.want == "ticket" {
		if doc.State != "waiting" || doc.Ticket == "" {
			return "", fmt.Errorf("fetch: join answered state %q ticket %q, want a waiting ticket", doc.State, doc.Ticket)
		}
		return doc.Ticket, nil
	}
	ticket := doc.Ticket
	for doc.AdmissionToken == "" {
		if doc.Ticket != "" {
			ticket = doc.Ticket
		}
		if ticket == "" {
			return "", fmt.Errorf("fetch: state %q without ticket nor admission token", doc.State)
		}
		wait := time.Duration(doc.RefreshAfterMS) * time.Millisecond
		wait = min(max(wait, 50*time.Millisecond), time.Second)
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("fetch: not admitted in %v (last state %q, position %d)", o.timeout, doc.State, doc.Position)
		case <-time.After(wait):
		}
		if doc, err = call(ctx, fasthttp.MethodGet, base+"/status", ticket); err != nil {
			return "", err
		}
	}
	return doc.AdmissionToken, nil
}

// call sends one JSON API request and decodes a 2xx status document.
func call(ctx context.Context, method, url, ticket string) (statusDoc, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(url)
	req.Header.Set("Accept", "application/json")
	if ticket != "" {
		req.Header.Set("Foyer-Ticket", ticket)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	var doc statusDoc
	if err := fasthttp.DoDeadline(req, resp, deadline); err != nil {
		return doc, fmt.Errorf("fetch: %s %s: %w", method, url, err)
	}
	if sc := resp.StatusCode(); sc < 200 || sc > 299 {
		return doc, fmt.Errorf("fetch: %s %s: status %d: %.300s", method, url, sc, resp.Body())
	}
	if err := json.Unmarshal(resp.Body(), &doc); err != nil {
		return doc, fmt.Errorf("fetch: %s %s: %w in %.300q", method, url, err, resp.Body())
	}
	if doc.State == "" {
		return doc, errors.New("fetch: status document without state: " + string(resp.Body()))
	}
	return doc, nil
}
