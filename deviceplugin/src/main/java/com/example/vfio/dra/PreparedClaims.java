package com.example.vfio.dra;

import com.example.vfio.plugin.AtomicFiles;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The driver's own record of the claims it prepared ({@code <plugins>/vfio.example.com/checkpoint.json}), written
 * before NodePrepareResources answers: NodeUnprepareResources undoes a claim from this record (the claim may be gone
 * from the API server by then), a prepared claim asked again gets the same answer, and a restarted daemon takes its
 * group holds up again. One owner: {@link ClaimPreparer}, whose calls are serialized.
 */
public final class PreparedClaims {
    static final int VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * One prepared device.
     *
     * @param resource  short resource name
     * @param unit      the unit's ID ({@code 0000:41:00.0} or {@code iommu-group-14})
     * @param addresses the PCI addresses it stands for
     */
    public record Device(String request, String device, String resource, String unit, String iommuGroup,
                         List<String> addresses, List<String> cdiIds) {
        public Device {
            addresses = List.copyOf(addresses);
            cdiIds = List.copyOf(cdiIds);
        }
    }

    /**
     * One prepared claim and every file preparing it wrote.
     *
     * @param files CDI spec files (names in the CDI directory)
     * @param metadataDir the directory of its device metadata files, null when none
     */
    public record Claim(String namespace, String name, String uid, List<Device> devices, List<String> files,
                        String metadataDir) {
        public Claim {
            devices = List.copyOf(devices);
            files = List.copyOf(files);
        }

        public String qualifiedName() {
            return namespace + "/" + name;
        }
    }

    private record Checkpoint(int version, Map<String, Claim> claims) {
    }

    private final Path file;
    private final Map<String, Claim> claims = new LinkedHashMap<>();

    private PreparedClaims(Path file) {
        this.file = file;
    }

    /** Reads the checkpoint (none yet: empty); one that cannot be read is an error naming the file. */
    public static PreparedClaims open(Path file) throws IOException {
        PreparedClaims p = new PreparedClaims(file);
        try {
            Checkpoint c = JSON.readValue(Files.readString(file), new TypeReference<Checkpoint>() { });
            if (c.version() != VERSION) {
                throw new IOException(file + ": checkpoint version " + c.version() + ", this daemon reads " + VERSION);
            }
            if (c.claims() != null) {
                p.claims.putAll(c.claims());
            }
        } catch (NoSuchFileException e) {
            // first start on this node
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(file + " is not a checkpoint of prepared claims (" + e.getOriginalMessage()
                    + "); move it away to start afresh, knowing its claims' devices are then not locked", e);
        }
        return p;
    }

    public Path file() {
        return file;
    }

    public Claim get(String uid) {
        return claims.get(uid);
    }

    public List<Claim> all() {
        return List.copyOf(claims.values());
    }

    public void put(Claim claim) throws IOException {
        Objects.requireNonNull(claim);
        Claim before = claims.put(claim.uid(), claim);
        try {
            save();
        } catch (IOException e) {
            if (before == null) {
                claims.remove(claim.uid());
            } else {
                claims.put(claim.uid(), before);
            }
            throw e;
        }
    }

    public void remove(String uid) throws IOException {
        Claim before = claims.remove(uid);
        if (before == null) {
            return;
        }
        try {
            save();
        } catch (IOException e) {
            claims.put(uid, before);
            throw e;
        }
    }

    private void save() throws IOException {
        AtomicFiles.writeString(file, JSON.writerWithDefaultPrettyPrinter()
                .writeValueAsString(new Checkpoint(VERSION, new LinkedHashMap<>(claims))));
    }
}
