package com.example.vfio.e2e;

import io.fabric8.kubeapitest.KubeAPIServerConfig;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import io.fabric8.kubeapitest.binary.BinaryManager;
import io.fabric8.kubeapitest.cert.CertManager;
import io.fabric8.kubeapitest.kubeconfig.KubeConfig;
import io.fabric8.kubeapitest.process.ProcessReadinessChecker;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real control plane for the tests: etcd and kube-apiserver built from Kubernetes' own modules (e2e/k8s/build),
 * started with fabric8 kube-api-test's parts in offline mode (its binary layout, certificates, kubeconfig and
 * readiness checks) and kube-api-test's apiserver flags, RBAC authorization included.
 *
 * <p>The processes are ours rather than kube-api-test's {@code KubeAPIServer}: that class starts etcd on 0.0.0.0 with
 * no way to change it, and stops both processes and wipes etcd's data as soon as either one exits, while the fault
 * suite stops the apiserver or etcd on purpose and starts it again on the same data. Everything listens on 127.0.0.1.
 */
public final class ControlPlane implements AutoCloseable {
    /** The Kubernetes release the binaries are built from (e2e/k8s/go.mod). */
    public static final String KUBERNETES_VERSION = "1.37.2";
    private static final int STARTUP_TIMEOUT_MS = 120_000;

    private final Path dir;
    private final BinaryManager binaries;
    private final CertManager certs;
    private final KubeAPIServerConfig config;
    private final List<String> extraFlags;
    private final int etcdPort = freePort();
    private final int etcdPeerPort = freePort();
    private final int apiServerPort = freePort();
    private Process etcd;
    private Process apiServer;
    private KubernetesClient admin;

    private ControlPlane(Path dir, List<String> extraFlags) {
        this.dir = dir;
        this.extraFlags = List.copyOf(extraFlags);
        this.config = KubeAPIServerConfigBuilder.anAPIServerConfig()
                .withTestDir(dir.toString())
                .withApiServerVersion(KUBERNETES_VERSION)
                .withOfflineMode(true)
                .withStartupTimeout(STARTUP_TIMEOUT_MS)
                .build();
        this.binaries = new BinaryManager(config);
        this.certs = new CertManager(dir.toString());
    }

    /** Starts etcd and kube-apiserver in {@code dir} (their data, certificates and logs) and waits until both serve. */
    public static ControlPlane start(Path dir, List<String> extraApiServerFlags) {
        ControlPlane plane = new ControlPlane(dir, extraApiServerFlags);
        // a test JVM that dies leaves no etcd or apiserver behind
        Runtime.getRuntime().addShutdownHook(new Thread(plane::kill));
        try {
            plane.layOutBinaries();
            plane.binaries.initAndDownloadIfRequired();
            plane.certs.createCertificatesIfNeeded();
            plane.startEtcd();
            plane.startApiServer();
            return plane;
        } catch (RuntimeException e) {
            plane.close();
            throw e;
        }
    }

    /** The directory e2e/k8s/build filled: the system property {@code vfio.k8s.bin} (e2e/cluster/run sets it). */
    public static Path binDir() {
        String bin = System.getProperty("vfio.k8s.bin", "");
        if (bin.isBlank()) {
            throw new IllegalStateException("vfio.k8s.bin is not set: run the suite with e2e/cluster/run, which builds the "
                    + "Kubernetes binaries (e2e/k8s/build) and passes their directory");
        }
        Path dir = Path.of(bin);
        if (!Files.isExecutable(dir.resolve("kube-apiserver"))) {
            throw new IllegalStateException(dir + " holds no kube-apiserver: run e2e/k8s/build");
        }
        return dir;
    }

    /** kube-api-test finds its binaries in {@code <dir>/k8s/<version>-linux-amd64/}; link the built ones there. */
    private void layOutBinaries() {
        Path bin = binDir();
        Path target = dir.resolve(BinaryManager.BINARY_LIST_DIR).resolve(KUBERNETES_VERSION + "-linux-amd64");
        try {
            Files.createDirectories(target);
            for (String name : List.of("etcd", "kube-apiserver", "kubectl")) {
                Path link = target.resolve(name);
                Files.deleteIfExists(link);
                Files.createSymbolicLink(link, bin.resolve(name));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot lay out the Kubernetes binaries under " + target, e);
        }
    }

    public synchronized void startEtcd() {
        if (etcd != null && etcd.isAlive()) {
            return;
        }
        String client = "http://127.0.0.1:" + etcdPort;
        String peer = "http://127.0.0.1:" + etcdPeerPort;
        etcd = launch("etcd", List.of(binaries.binaries().getEtcd().getPath(),
                "--data-dir", dir.resolve("etcd").toString(),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "default=" + peer,
                // test data: durability across a power cut is not what is tested
                "--unsafe-no-fsync"));
        awaitReady(etcd, "etcd", () -> new ProcessReadinessChecker().waitUntilReady(etcdPort, "health", "etcd", false, 1000));
    }

    public synchronized void stopEtcd() {
        etcd = stop(etcd);
    }

    public synchronized void startApiServer() {
        if (apiServer != null && apiServer.isAlive()) {
            return;
        }
        List<String> command = new ArrayList<>(List.of(binaries.binaries().getApiServer().getPath()));
        command.addAll(extraFlags);
        command.addAll(List.of(
                "--bind-address", "127.0.0.1",
                "--advertise-address", "127.0.0.1",
                // the endpoint reconcilers refuse a loopback address; no test reaches the apiserver through its Service
                "--endpoint-reconciler-type", "none",
                "--cert-dir", dir.toString(),
                "--tls-cert-file", certs.getAPIServerCertPath(),
                "--tls-private-key-file", certs.getAPIServerKeyPath(),
                "--secure-port", String.valueOf(apiServerPort),
                "--etcd-servers", "http://127.0.0.1:" + etcdPort,
                "--authorization-mode", "Node,RBAC",
                "--service-account-issuer", "https://localhost",
                "--service-account-signing-key-file", certs.getAPIServerKeyPath(),
                "--service-account-key-file", certs.getAPIServerKeyPath(),
                "--disable-admission-plugins", "ServiceAccount",
                "--client-ca-file", certs.getClientCertPath(),
                "--service-cluster-ip-range", "10.0.0.0/24",
                "--audit-policy-file", writeAuditPolicy().toString(),
                "--audit-log-path", auditLog().toString(),
                "--audit-log-format", "json",
                "--audit-log-mode", "blocking",
                "--allow-privileged"));
        apiServer = launch("kube-apiserver", command);
        ProcessReadinessChecker readiness = new ProcessReadinessChecker();
        awaitReady(apiServer, "kube-apiserver", () -> readiness.waitUntilReady(apiServerPort, "readyz", "kube-apiserver", true, 1000));
        readiness.waitUntilDefaultNamespaceAvailable(apiServerPort, binaries, certs, config, STARTUP_TIMEOUT_MS);
    }

    public synchronized void stopApiServer() {
        apiServer = stop(apiServer);
    }

    /**
     * The apiserver's audit log (JSON lines, one per request and stage): every request a service account made,
     * with its verb, resource, subresource, URI and response code. Our processes run as service accounts (their
     * chart's identity), so this is what they really asked the server, whatever RBAC would have allowed.
     */
    public Path auditLog() {
        return dir.resolve("audit.log");
    }

    private Path writeAuditPolicy() {
        Path policy = dir.resolve("audit-policy.yaml");
        try {
            Files.writeString(policy, """
                    apiVersion: audit.k8s.io/v1
                    kind: Policy
                    omitStages: [RequestReceived]
                    rules:
                    - level: Metadata
                      userGroups: ["system:serviceaccounts"]
                    - level: None
                    """, StandardCharsets.UTF_8);
            return policy;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The bytes etcd stores under {@code key} (e.g. {@code /registry/vfio.example.com/vfionodestates/node-a}), read
     * through etcd's own HTTP gateway: the object as the apiserver wrote it, managedFields and all. Empty when absent.
     */
    public byte[] etcdValue(String key) {
        String body = "{\"key\":\"" + Base64.getEncoder().encodeToString(key.getBytes(StandardCharsets.UTF_8)) + "\"}";
        try {
            HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + etcdPort + "/v3/kv/range"))
                    .timeout(Duration.ofSeconds(10)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() != 200) {
                throw new IllegalStateException("etcd range " + key + ": HTTP " + response.statusCode() + " " + response.body());
            }
            Matcher value = Pattern.compile("\"value\":\"([^\"]*)\"").matcher(response.body());
            return value.find() ? Base64.getDecoder().decode(value.group(1)) : new byte[0];
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Polls {@code check} (one short try each) until it passes, failing at once, with the log's last line, if the process exits. */
    private void awaitReady(Process process, String name, Runnable check) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(STARTUP_TIMEOUT_MS);
        while (true) {
            if (!process.isAlive()) {
                throw new IllegalStateException(name + " exited with status " + process.exitValue() + ": " + lastLine(name));
            }
            try {
                check.run();
                return;
            } catch (io.fabric8.kubeapitest.KubeAPITestException notYet) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(name + " did not become ready in " + STARTUP_TIMEOUT_MS / 1000 + " s: " + lastLine(name));
                }
            }
        }
    }

    private String lastLine(String name) {
        try {
            List<String> lines = Files.readAllLines(dir.resolve(name + ".log"));
            return lines.isEmpty() ? "(no output)" : lines.get(lines.size() - 1) + " (" + dir.resolve(name + ".log") + ")";
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** kill -9 of the apiserver: no graceful shutdown, open watches break mid-stream. */
    public synchronized void killApiServer() {
        if (apiServer != null) {
            apiServer.destroyForcibly();
            waitFor(apiServer);
            apiServer = null;
        }
    }

    /** A client with kube-api-test's client certificate, in {@code system:masters}. */
    public synchronized KubernetesClient admin() {
        if (admin == null) {
            admin = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(kubeconfigYaml())).build();
        }
        return admin;
    }

    /** A client that impersonates {@code user} (with {@code groups} and {@code extra}), so that RBAC decides for real. */
    public KubernetesClient impersonating(String user, List<String> groups, Map<String, List<String>> extra) {
        return new KubernetesClientBuilder().withConfig(impersonation(user, groups, extra)).build();
    }

    /** The client configuration of {@link #impersonating}, for a client that needs more (e.g. a user agent of its own). */
    public Config impersonation(String user, List<String> groups, Map<String, List<String>> extra) {
        Config config = Config.fromKubeconfig(kubeconfigYaml());
        config.setImpersonateUsername(user);
        config.setImpersonateGroups(groups.toArray(String[]::new));
        // header names cannot hold '/': the apiserver unescapes Impersonate-Extra-<percent-encoded key>
        Map<String, List<String>> encoded = new java.util.HashMap<>();
        extra.forEach((k, v) -> encoded.put(java.net.URLEncoder.encode(k, StandardCharsets.UTF_8), v));
        config.setImpersonateExtras(encoded);
        return config;
    }

    /** The admin kubeconfig, as kube-api-test writes it. */
    public String kubeconfigYaml() {
        return new KubeConfig(certs, binaries).generateKubeConfigYaml(apiServerPort);
    }

    /** Writes the admin kubeconfig to {@code file}, for a process of ours (operator, node agent, kubectl). */
    public Path writeKubeconfig(Path file) {
        try {
            Files.writeString(file, kubeconfigYaml(), StandardCharsets.UTF_8);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A kubeconfig that authenticates with a bearer token (a service account's), trusting this apiserver's certificate. */
    public Path writeTokenKubeconfig(Path file, String token) {
        String yaml = """
                apiVersion: v1
                kind: Config
                clusters:
                - name: e2e
                  cluster: {server: "%s", certificate-authority: "%s"}
                users:
                - name: e2e
                  user: {token: "%s"}
                contexts:
                - name: e2e
                  context: {cluster: e2e, user: e2e}
                current-context: e2e
                """.formatted(serverUrl(), certs.getAPIServerCertPath(), token);
        try {
            Files.writeString(file, yaml, StandardCharsets.UTF_8);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public String serverUrl() {
        return "https://127.0.0.1:" + apiServerPort;
    }

    public Path kubectl() {
        return binaries.binaries().getKubectl().toPath();
    }

    public Path dir() {
        return dir;
    }

    /** The first line each binary prints of its own version, e.g. {@code Kubernetes v1.37.2}. */
    public String versions() {
        return "kube-apiserver " + firstLine(binaries.binaries().getApiServer().getPath(), "--version").replace("Kubernetes ", "")
                + ", " + firstLine(binaries.binaries().getEtcd().getPath(), "--version").replace("Version: ", "").replace(":", "");
    }

    @Override
    public synchronized void close() {
        if (admin != null) {
            admin.close();
            admin = null;
        }
        stopApiServer();
        stopEtcd();
    }

    private synchronized void kill() {
        for (Process p : new Process[] {apiServer, etcd}) {
            if (p != null) {
                p.destroyForcibly();
            }
        }
    }

    private Process launch(String name, List<String> command) {
        try {
            ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve(name + ".log").toFile()));
            return pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + name, e);
        }
    }

    private static Process stop(Process p) {
        if (p != null) {
            p.destroy();
            waitFor(p);
        }
        return null;
    }

    private static void waitFor(Process p) {
        try {
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String firstLine(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(30, TimeUnit.SECONDS);
            return out.lines().findFirst().orElse("?").trim();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "?";
        }
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
