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

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics are the metric families of one scrape, by name.
type Metrics map[string]*dto.MetricFamily

// ManagerMetrics scrapes the running manager's /metrics endpoint (plain HTTP on loopback).
func (s *Sandbox) ManagerMetrics(ctx context.Context) (Metrics, error) {
	if s.managerMetrics == "" {
		return nil, errors.New("the sandbox runs no manager")
	}
	return ScrapeMetrics(ctx, s.managerMetrics)
}

// ScrapeMetrics scrapes a manager's /metrics endpoint at addr (plain HTTP on loopback).
func ScrapeMetrics(ctx context.Context, addr string) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping the metrics of %s: %w", addr, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("scraping the metrics of %s: %s: %s", addr, resp.Status, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing the metrics of %s: %w", addr, err)
	}
	return families, nil
}

// Sum adds up the counter or gauge values of the series of name whose labels include labels.
func (m Metrics) Sum(name string, labels map[string]string) float64 {
	f := m[name]
	if f == nil {
		return 0
	}
	total := 0.0
	for _, metric := range f.GetMetric() {
		if !hasLabels(metric, labels) {
			continue
		}
		switch {
		case metric.GetCounter() != nil:
			total += metric.GetCounter().GetValue()
		case metric.GetGauge() != nil:
			total += metric.GetGauge().GetValue()
		}
	}
	return total
}

// ByLabel adds up the counter or gauge values of the series of name by the value of their label.
func (m Metrics) ByLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, metric := range m[name].GetMetric() {
		for _, l := range metric.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] += metric.GetCounter().GetValue() + metric.GetGauge().GetValue()
			}
		}
	}
	return out
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(want)
}

// HistogramCount adds up the observation counts of the histogram series of name whose labels
// include labels.
func (m Metrics) HistogramCount(name string, labels map[string]string) float64 {
	return m.histogram(name, labels, func(h *dto.Histogram) float64 { return float64(h.GetSampleCount()) })
}

// HistogramBucket adds up the cumulative counts of the bucket with upper bound le.
func (m Metrics) HistogramBucket(name string, labels map[string]string, le float64) float64 {
	return m.histogram(name, labels, func(h *dto.Histogram) float64 {
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() == le {
				return float64(b.GetCumulativeCount())
			}
		}
		return 0
	})
}

func (m Metrics) histogram(name string, labels map[string]string, value func(*dto.Histogram) float64) float64 {
	f := m[name]
	if f == nil {
		return 0
	}
	total := 0.0
	for _, metric := range f.GetMetric() {
		if h := metric.GetHistogram(); h != nil && hasLabels(metric, labels) {
			total += value(h)
		}
	}
	return total
}
