/*
Copyright 2026 The clb-binding-controller Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package explain

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
)

// Output formats of kubectl clbind get.
const (
	OutputTable = ""
	OutputWide  = "wide"
	OutputJSON  = "json"
)

// RenderGet writes the views in the format: a block per binding (its listener or rule, Service,
// Ready condition, health summary and notes) and a table of its backends; wide adds the gate's
// reason and the times; json is the views as they are.
func RenderGet(w io.Writer, views []BindingView, format string, now time.Time) error {
	switch format {
	case OutputJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if views == nil {
			views = []BindingView{}
		}
		return enc.Encode(views)
	case OutputTable, OutputWide:
	default:
		return fmt.Errorf("unknown output format %q: use wide or json", format)
	}
	if len(views) == 0 {
		_, err := fmt.Fprintln(w, "No CLBBackendBindings found.")
		return err
	}
	for i, v := range views {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if err := renderBinding(w, v, format == OutputWide, now); err != nil {
			return err
		}
	}
	return nil
}

func renderBinding(out io.Writer, v BindingView, wide bool, now time.Time) error {
	w := &printer{w: out}
	w.f("CLBBackendBinding %s/%s: %s of %s, Service %s, %s targets\n", v.Namespace, v.Name, v.Where, v.LoadBalancerID, v.Service, v.TargetType)
	ready := fmt.Sprintf("Ready=%s %s", v.Ready.Status, v.Ready.Reason)
	if !v.Ready.Since.IsZero() {
		ready += " for " + age(v.Ready.Since, now)
	}
	if v.Ready.Message != "" {
		ready += ": " + v.Ready.Message
	}
	w.f("%s\n", ready)
	health := "CLB health: no CLBHealth yet"
	if v.Health != "" || !v.LastProbe.IsZero() {
		health = "CLB health: " + v.Health + " healthy"
		if v.LastProbe.IsZero() {
			health += ", not probed yet"
		} else {
			// The status is written when the view changes, not at each poll (polls run every 30 s).
			health += ", last change seen " + age(v.LastProbe, now) + " ago"
		}
	}
	if v.Gate != "" {
		health += "; readiness gate " + v.Gate
	} else {
		health += "; no readiness gate"
	}
	w.f("%s\n", health)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	t := &printer{w: tw}
	header := "POD\tNODE\tBACKEND\tWEIGHT\tHEALTH\tSINCE\tGATE\tSTATE"
	if wide {
		header += "\tGATE REASON\tGATE SINCE\tHEALTH SINCE\tREGISTERED"
	}
	t.f("%s\n", header)
	for _, b := range v.Backends {
		weight := "-"
		if b.Weight != nil {
			weight = strconv.FormatInt(*b.Weight, 10)
		}
		since := "-"
		if !b.HealthSince.IsZero() {
			since = age(b.HealthSince, now)
		}
		row := []string{dash(b.Pod), dash(b.Node), b.Address, weight, b.Health, since, b.Gate.Status, dash(b.State)}
		if wide {
			gateSince := "-"
			if !b.Gate.Since.IsZero() {
				gateSince = stamp(b.Gate.Since)
			}
			healthSince := "-"
			if !b.HealthSince.IsZero() {
				healthSince = stamp(b.HealthSince)
			}
			registered := "-"
			if !b.RegisteredSince.IsZero() {
				registered = stamp(b.RegisteredSince)
			}
			row = append(row, dash(b.Gate.Reason), gateSince, healthSince, registered)
		}
		t.f("%s\n", strings.Join(row, "\t"))
	}
	if t.err == nil {
		t.err = tw.Flush()
	}
	if t.err != nil {
		return t.err
	}
	if len(v.Backends) == 0 {
		w.f("(no backends)\n")
	}
	for _, n := range v.Notes {
		w.f("note: %s\n", n)
	}
	return w.err
}

// printer writes until the first error, and keeps it.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, a...)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// age is how long ago t was, as kubectl prints ages.
func age(t, now time.Time) string {
	return duration.HumanDuration(max(now.Sub(t), 0))
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
