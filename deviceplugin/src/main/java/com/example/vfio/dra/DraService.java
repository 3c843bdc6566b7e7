package com.example.vfio.dra;

import com.example.vfio.proto.dra.v1.Claim;
import com.example.vfio.proto.dra.v1.DRAPluginGrpc;
import com.example.vfio.proto.dra.v1.Device;
import com.example.vfio.proto.dra.v1.NodePrepareResourceResponse;
import com.example.vfio.proto.dra.v1.NodePrepareResourcesRequest;
import com.example.vfio.proto.dra.v1.NodePrepareResourcesResponse;
import com.example.vfio.proto.dra.v1.NodeUnprepareResourceResponse;
import com.example.vfio.proto.dra.v1.NodeUnprepareResourcesRequest;
import com.example.vfio.proto.dra.v1.NodeUnprepareResourcesResponse;
import io.grpc.BindableService;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The kubelet-facing DRA services: {@code k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin}, the same on
 * {@code ...dra.v1beta1.DRAPlugin} for kubelets one release back, and the health streams ({@link HealthStreams}).
 * Calls are serialized, as the Go helper library does by default: the kubelet sends one batch per driver anyway.
 */
public final class DraService {
    private static final Logger LOG = LoggerFactory.getLogger(DraService.class);

    private final ClaimPreparation preparation;
    private final HealthStreams health;
    private final Object serial = new Object();

    public DraService(ClaimPreparation preparation, HealthStreams health) {
        this.preparation = preparation;
        this.health = health;
    }

    /** Everything the DRA socket serves. */
    public List<BindableService> services() {
        return List.of(new V1(), new V1beta1(), health.v1(), health.v1alpha1());
    }

    NodePrepareResourcesResponse prepare(NodePrepareResourcesRequest request) {
        List<ClaimPreparation.ClaimRef> refs = new ArrayList<>();
        for (Claim c : request.getClaimsList()) {
            refs.add(new ClaimPreparation.ClaimRef(c.getNamespace(), c.getUid(), c.getName()));
        }
        Map<String, ClaimPreparation.Result> results;
        synchronized (serial) {
            results = preparation.prepare(refs);
        }
        NodePrepareResourcesResponse.Builder out = NodePrepareResourcesResponse.newBuilder();
        results.forEach((uid, r) -> {
            NodePrepareResourceResponse.Builder claim = NodePrepareResourceResponse.newBuilder();
            if (r.error() != null) {
                claim.setError(r.error());
            } else {
                for (ClaimPreparation.PreparedDevice d : r.devices()) {
                    claim.addDevices(Device.newBuilder().addAllRequestNames(d.requests()).setPoolName(d.pool())
                            .setDeviceName(d.device()).addAllCdiDeviceIds(d.cdiIds()));
                }
            }
            out.putClaims(uid, claim.build());
        });
        return out.build();
    }

    NodeUnprepareResourcesResponse unprepare(NodeUnprepareResourcesRequest request) {
        List<ClaimPreparation.ClaimRef> refs = new ArrayList<>();
        for (Claim c : request.getClaimsList()) {
            refs.add(new ClaimPreparation.ClaimRef(c.getNamespace(), c.getUid(), c.getName()));
        }
        Map<String, String> results;
        synchronized (serial) {
            results = preparation.unprepare(refs);
        }
        NodeUnprepareResourcesResponse.Builder out = NodeUnprepareResourcesResponse.newBuilder();
        results.forEach((uid, error) -> out.putClaims(uid, error == null
                ? NodeUnprepareResourceResponse.getDefaultInstance()
                : NodeUnprepareResourceResponse.newBuilder().setError(error).build()));
        return out.build();
    }

    private static <T> void answer(StreamObserver<T> out, java.util.function.Supplier<T> call) {
        T response;
        try {
            response = call.get();
        } catch (RuntimeException e) {
            LOG.error("DRA call failed", e);
            out.onError(Status.INTERNAL.withDescription(String.valueOf(e.getMessage())).asRuntimeException());
            return;
        }
        out.onNext(response);
        out.onCompleted();
    }

    private final class V1 extends DRAPluginGrpc.DRAPluginImplBase {
        @Override
        public void nodePrepareResources(NodePrepareResourcesRequest request,
                                         StreamObserver<NodePrepareResourcesResponse> out) {
            answer(out, () -> prepare(request));
        }

        @Override
        public void nodeUnprepareResources(NodeUnprepareResourcesRequest request,
                                           StreamObserver<NodeUnprepareResourcesResponse> out) {
            answer(out, () -> unprepare(request));
        }
    }

    /** v1beta1 has the same messages but share_id: converted through the wire format, field by field the same. */
    private final class V1beta1 extends com.example.vfio.proto.dra.v1beta1.DRAPluginGrpc.DRAPluginImplBase {
        @Override
        public void nodePrepareResources(com.example.vfio.proto.dra.v1beta1.NodePrepareResourcesRequest request,
                                         StreamObserver<com.example.vfio.proto.dra.v1beta1.NodePrepareResourcesResponse> out) {
            answer(out, () -> convert(prepare(convert(request.toByteString(), NodePrepareResourcesRequest.parser())),
                    com.example.vfio.proto.dra.v1beta1.NodePrepareResourcesResponse.parser()));
        }

        @Override
        public void nodeUnprepareResources(com.example.vfio.proto.dra.v1beta1.NodeUnprepareResourcesRequest request,
                                           StreamObserver<com.example.vfio.proto.dra.v1beta1.NodeUnprepareResourcesResponse> out) {
            answer(out, () -> convert(unprepare(convert(request.toByteString(), NodeUnprepareResourcesRequest.parser())),
                    com.example.vfio.proto.dra.v1beta1.NodeUnprepareResourcesResponse.parser()));
        }
    }

    private static <T> T convert(com.google.protobuf.ByteString bytes, com.google.protobuf.Parser<T> parser) {
        try {
            return parser.parseFrom(bytes);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IllegalStateException("v1 and v1beta1 DRA messages no longer share their wire format", e);
        }
    }

    private static <T> T convert(com.google.protobuf.MessageLite message, com.google.protobuf.Parser<T> parser) {
        return convert(message.toByteString(), parser);
    }
}
