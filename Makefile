# Image of the manager for docker-build, build-installer and bundle.
IMG ?= ghcr.io/clbind/clb-binding-controller:v0.1.0

# Everything here needs only Go: tools are pinned in go.mod (tool lines) or built into bin/.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

LOCALBIN ?= $(shell pwd)/bin
## The local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl),
## built from the Go module proxy by hack/tools.
K8S_BIN ?= $(LOCALBIN)/k8s
KUBECTL ?= $(K8S_BIN)/kubectl
CONTROLLER_GEN ?= go tool controller-gen
KUSTOMIZE ?= $(LOCALBIN)/kustomize
KUSTOMIZE_VERSION ?= v5.8.1
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
GOLANGCI_LINT_VERSION ?= v2.15.0

# Go test flags for `make test`; for example GO_TEST_FLAGS="-run TestX -v".
GO_TEST_FLAGS ?=

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate the CRDs, the ClusterRole and the webhook configurations from the Go markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./api/..." paths="./controllers/..." paths="./webhooks/..." \
		output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: ## Generate the DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: verify-generated
verify-generated: manifests generate fmt chart ## Fail if generated or formatted files differ from what is committed.
	@if [ -n "$$(git status --porcelain -- api config cmd controllers webhooks internal test charts)" ]; then \
		echo "Generated or formatted files are out of date; run 'make manifests generate fmt chart' and commit:"; \
		git status --porcelain -- api config cmd controllers webhooks internal test charts; \
		git --no-pager diff --stat; exit 1; \
	fi

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (the module and test/helm's).
	"$(GOLANGCI_LINT)" run --build-tags e2e ./...
	cd test/helm && "$(GOLANGCI_LINT)" run ./...

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and apply its fixes.
	"$(GOLANGCI_LINT)" run --build-tags e2e --fix ./...

.PHONY: test
test: verify-generated vet lint envtest-assets kustomize ## Check generation, vet, lint, then run unit and envtest suites (test/install renders config/default with kustomize).
	KUBEBUILDER_ASSETS="$(K8S_BIN)" KUSTOMIZE="$(KUSTOMIZE)" go test $(GO_TEST_FLAGS) ./... -coverprofile cover.out
	$(MAKE) test-monitoring
	$(MAKE) test-helm

.PHONY: test-helm
test-helm: envtest-assets kustomize ## Test the Helm chart with the Helm SDK (test/helm, its own module): it renders install.yaml's objects (and the monitoring component's), lints the chart, installs, upgrades, rolls back, uninstalls. make lint lints its Go code.
	cd test/helm && go vet ./... && \
		KUBEBUILDER_ASSETS="$(K8S_BIN)" KUSTOMIZE="$(KUSTOMIZE)" go test $(GO_TEST_FLAGS) ./... -count=1

.PHONY: test-monitoring
test-monitoring: envtest-assets kustomize ## Test config/prometheus (its own module, test/monitoring): rules and dashboard parsed by Prometheus's parsers, every metric they use scraped from a running manager.
	cd test/monitoring && go vet ./... && \
		KUBEBUILDER_ASSETS="$(K8S_BIN)" KUSTOMIZE="$(KUSTOMIZE)" go test ./... -count=1 $(GO_TEST_FLAGS)

.PHONY: test-unit
test-unit: ## Run only the tests that need no control plane (-short).
	go test -short ./...

# Flags for `make test-e2e`, for example E2E_FLAGS="-ginkgo.focus=SIGKILL".
E2E_FLAGS ?=

.PHONY: test-e2e
test-e2e: envtest-assets argo-rollouts argo-rollouts-plugin ## End-to-end suite in the sandbox (control plane, stand-in kubelet, clbsim data plane, manager, Argo Rollouts); needs root and iproute2.
	go build -o $(LOCALBIN)/manager ./cmd/manager
	E2E_MANAGER="$(LOCALBIN)/manager" E2E_ARGO_ROLLOUTS="$(ARGO_ROLLOUTS_BIN)" KUBEBUILDER_ASSETS="$(K8S_BIN)" go test -tags e2e ./test/e2e/ -timeout 35m -count=1 -v $(E2E_FLAGS)

# Flags for `make bench`, for example BENCH_FLAGS="-rows 1,6 -seed-rows-fixed none".
BENCH_FLAGS ?=

.PHONY: bench
bench: envtest-assets ## Benchmarks (seed tables, scale, scale10, readiness, rollout, budget, shares, slowstart; BENCH_FLAGS=-scenarios=scale for one), written to bench/results.md with a chart per scenario.
	go build -o $(LOCALBIN)/manager ./cmd/manager
	KUBEBUILDER_ASSETS="$(K8S_BIN)" go run ./test/bench/scenarios -out bench -manager $(LOCALBIN)/manager $(BENCH_FLAGS)

.PHONY: demo
demo: envtest-assets ## Run the product locally: control plane, clbsim, manager and a rolling update with real traffic (DEMO_EXIT=1 to exit after it).
	go build -o $(LOCALBIN)/manager ./cmd/manager
	KUBEBUILDER_ASSETS="$(K8S_BIN)" go run ./cmd/demo -manager $(LOCALBIN)/manager

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager, clbsim and kubectl-clbind binaries into bin/.
	go build -o $(LOCALBIN)/manager ./cmd/manager
	@if [ -d cmd/clbsim ]; then go build -o $(LOCALBIN)/clbsim ./cmd/clbsim; fi
	go build -o $(LOCALBIN)/kubectl-clbind ./cmd/kubectl-clbind

.PHONY: kubectl-clbind-dist
kubectl-clbind-dist: ## Build the kubectl plugin's release archives (dist/kubectl-clbind_<os>_<arch>.tar.gz, as plugins/krew/clbind.yaml names them).
	@mkdir -p dist
	@for p in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64; do os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		d=dist/kubectl-clbind_$${os}_$${arch}; mkdir -p $$d; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags="-s -w" -o $$d/kubectl-clbind$$ext ./cmd/kubectl-clbind; \
		tar -czf $$d.tar.gz -C $$d kubectl-clbind$$ext && rm -r $$d && echo $$d.tar.gz; done

.PHONY: run
run: manifests generate fmt vet ## Run the manager from your host against the current kubeconfig.
	go run ./cmd/manager $(ARGS)

.PHONY: docker-build
docker-build: ## Build the manager image (needs a Docker engine).
	docker build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the manager image.
	docker push $(IMG)

.PHONY: build-installer
build-installer: manifests generate kustomize ## Write dist/install.yaml for `kubectl apply --server-side` (set region and cluster id in config/default/manager_config.env).
	mkdir -p dist
	cd config/manager && "$(KUSTOMIZE)" edit set image controller=$(IMG)
	"$(KUSTOMIZE)" build config/default > dist/install.yaml.tmp
	mv dist/install.yaml.tmp dist/install.yaml
	@if grep -q 'REPLACE_WITH_' dist/install.yaml; then \
		echo "dist/install.yaml: region and cluster id are placeholders; set them in config/default/manager_config.env, or in the ConfigMap clb-binding-controller-config before applying"; fi

.PHONY: chart
chart: kustomize ## Generate the Helm chart charts/clb-binding-controller from config/default (the sources of dist/install.yaml).
	go run ./hack/chart -kustomize "$(KUSTOMIZE)"

## Version of the OLM bundle and of the image labels (semver, no leading v).
VERSION ?= 0.1.0
BUNDLE_CHANNELS ?= candidate
BUNDLE_DEFAULT_CHANNEL ?= candidate
## Architecture of the binary in dist/manager-image.tar (the image is always linux).
IMAGE_ARCH ?= $(shell go env GOARCH)

.PHONY: bundle
bundle: manifests ## Generate the OLM bundle (bundle/, bundle.Dockerfile) from config/, with IMG and VERSION.
	go run ./hack/bundle -version "$(VERSION)" -image "$(IMG)" \
		-channels "$(BUNDLE_CHANNELS)" -default-channel "$(BUNDLE_DEFAULT_CHANNEL)"

.PHONY: image-tar
image-tar: ## Build dist/manager-image.tar, an OCI image archive of the static manager (no Docker engine needed).
	mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH="$(IMAGE_ARCH)" go build -trimpath -ldflags="-s -w" -o dist/manager ./cmd/manager
	go run ./hack/imagetar -binary dist/manager -out dist/manager-image.tar -image "$(IMG)" -version "$(VERSION)" -arch "$(IMAGE_ARCH)"

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests kustomize envtest-assets ## Install the CRDs into the cluster of the current kubeconfig.
	"$(KUSTOMIZE)" build config/crd | "$(KUBECTL)" apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize envtest-assets ## Remove the CRDs. Delete bindings first, while the manager runs, so their backends are deregistered.
	"$(KUSTOMIZE)" build config/crd | "$(KUBECTL)" delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: manifests kustomize envtest-assets ## Deploy the controller to the cluster of the current kubeconfig.
	cd config/manager && "$(KUSTOMIZE)" edit set image controller=$(IMG)
	"$(KUSTOMIZE)" build config/default | "$(KUBECTL)" apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize envtest-assets ## Remove the controller. Delete bindings first, while the manager runs.
	"$(KUSTOMIZE)" build config/default | "$(KUBECTL)" delete --ignore-not-found=$(ignore-not-found) -f -

##@ Dependencies

$(LOCALBIN):
	mkdir -p "$(LOCALBIN)"

.PHONY: envtest-assets
envtest-assets: ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl into bin/k8s (once).
	@hack/tools/build.sh "$(K8S_BIN)"

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Build kustomize into bin/.
$(KUSTOMIZE): | $(LOCALBIN)
	GOBIN="$(LOCALBIN)" go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Build golangci-lint into bin/.
$(GOLANGCI_LINT): | $(LOCALBIN)
	GOBIN="$(LOCALBIN)" go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

##@ Argo Rollouts

## The Argo Rollouts controller, its CRDs and the CLB traffic-router plugin.
ARGO_ROLLOUTS_BIN ?= $(LOCALBIN)/argo-rollouts

.PHONY: argo-rollouts
argo-rollouts: ## Build the Argo Rollouts controller and copy its CRDs into bin/argo-rollouts (once), from the Go module proxy by hack/argo-rollouts.
	@hack/argo-rollouts/build.sh "$(ARGO_ROLLOUTS_BIN)"

ARGOCD_BIN ?= $(LOCALBIN)/argocd

.PHONY: argocd
argocd: ## Build Argo CD's application controller and repo server and copy its CRDs into bin/argocd (once), from the Go module proxy by hack/argocd.
	@hack/argocd/build.sh "$(ARGOCD_BIN)"

.PHONY: test-argocd
test-argocd: envtest-assets kustomize argocd ## Install config/default with the real Argo CD (test/argocd): Synced and Healthy, stays Synced after the manager's injection, a Degraded binding, deletion leaves no backend.
	ARGOCD_BIN="$(ARGOCD_BIN)" KUBEBUILDER_ASSETS="$(K8S_BIN)" KUSTOMIZE="$(KUSTOMIZE)" go test ./test/argocd/ -run TestArgoCDInstall -count=1 -v -timeout 10m $(GO_TEST_FLAGS)

.PHONY: argo-rollouts-plugin
argo-rollouts-plugin: ## Build the CLB traffic-router plugin for Argo Rollouts (plugins/argo-rollouts) into bin/argo-rollouts.
	cd plugins/argo-rollouts && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$(ARGO_ROLLOUTS_BIN)/clb-argo-rollouts-plugin" .

.PHONY: test-argo-rollouts-plugin
test-argo-rollouts-plugin: envtest-assets argo-rollouts ## Test the plugin: unit tests, RPC through Argo Rollouts' plugin client, and a Rollout step with the real Argo Rollouts controller, on envtest.
	cd plugins/argo-rollouts && KUBEBUILDER_ASSETS="$(K8S_BIN)" ARGO_ROLLOUTS_CONTROLLER="$(ARGO_ROLLOUTS_BIN)/rollouts-controller" \
		go test ./... -count=1 $(GO_TEST_FLAGS)
