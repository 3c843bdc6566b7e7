package com.example.vfio.e2e;

import com.example.vfio.pci.FakeHost;
import com.example.vfio.pci.SampleHost;
import com.example.vfio.plugin.kubelet.StandInKubelet;
import com.example.vfio.plugin.kubelet.StandInPodResources;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What a node agent's pod gets from its node, for a node named {@code name}: the shipped sample GPU server as its host
 * root (examples/sample-host, laid out afresh by {@link SampleHost}), a stand-in kubelet on its device plugin directory
 * and a stand-in PodResources API (the deviceplugin test-jar's), all under {@code dir}.
 */
record SampleNode(String name, FakeHost host, StandInPodResources podResources, StandInKubelet kubelet, Path journal) implements AutoCloseable {

    static SampleNode start(String name, Path dir) throws IOException {
        FakeHost host = SampleHost.describe(FakeHost.at(dir.resolve("host"))).write();
        StandInPodResources podResources = new StandInPodResources(dir.resolve("pod-resources/kubelet.sock")).start();
        StandInKubelet kubelet = new StandInKubelet(Files.createDirectories(dir.resolve("device-plugins")), podResources).start();
        return new SampleNode(name, host, podResources, kubelet, dir.resolve("journal"));
    }

    Components.NodeHost nodeHost() {
        return new Components.NodeHost(name, host.path(), kubelet.dir(), podResources.socket(), journal);
    }

    /** The host's PCI functions: what the agent's status should count. */
    int functions() throws IOException {
        return Components.pciFunctions(host.path());
    }

    @Override
    public void close() {
        Components.closeAll(kubelet, podResources);
    }
}
