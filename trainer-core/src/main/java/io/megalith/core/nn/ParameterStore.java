package io.megalith.core.nn;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.tensor.HostCopies;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Owns the storage of a module's parameters: one flat float32 buffer, each parameter a contiguous
 * view of it. Parameters with weight decay come first, so the optimizer sees two contiguous groups.
 *
 * <p>Frozen parameters ({@link Parameter#freeze()}) are laid out after every trainable one, in the order given, and
 * do not require gradients: gradients, buckets and optimizer state then cover the trainable prefix
 * [0, {@link #trainableElements()}) only, while values, loading and checkpoints still cover everything.
 *
 * <p>Why flat: AdamW, global-norm clipping and (in the parallel module) gradient all-reduce and ZeRO
 * partitioning each become a handful of ops on one tensor instead of one op per parameter.
 */
public final class ParameterStore implements ModelParameters {
    private final NDManager manager;
    private final List<Parameter> params;
    private final PtNDArray flat;
    private final long decayElements;
    private final long totalElements;
    private final long trainableElements;
    private final int trainableCount;
    private PtNDArray[] gradViews;

    /** Allocates and initialises storage for {@code module}'s parameters from {@code seed}, decay ones first. */
    public ParameterStore(Module module, NDManager parent, long seed) {
        this(decayFirst(module), parent, seed);
    }

    private static List<Parameter> decayFirst(Module module) {
        List<Parameter> ordered = new ArrayList<>();
        module.parameters().stream().filter(Parameter::decay).forEach(ordered::add);
        module.parameters().stream().filter(p -> !p.decay()).forEach(ordered::add);
        return ordered;
    }

    /**
     * Allocates and initialises storage for {@code ordered} parameters, laid out in that order (e.g. the
     * order in which backward completes their gradients, so gradient buckets are contiguous ranges).
     */
    public ParameterStore(List<Parameter> ordered, NDManager parent, long seed) {
        this.manager = parent.newSubManager();
        this.params = trainableFirst(ordered);
        long n = 0;
        long nd = 0;
        long trainable = 0;
        int count = 0;
        for (Parameter p : params) {
            n += p.numel();
            if (p.decay()) {
                nd += p.numel();
            }
            if (!p.frozen()) {
                trainable += p.numel();
                count++;
            }
        }
        this.totalElements = n;
        this.trainableElements = trainable;
        this.trainableCount = count;
        this.decayElements = nd;
        this.flat = Ops.pt(manager.zeros(new Shape(n), DataType.FLOAT32));
        NDScope.unregister(flat);
        FloatBuffer all = Ops.bytes(flat, true).asFloatBuffer();
        long offset = 0;
        for (Parameter p : params) {
            float[] values = new float[(int) p.numel()];
            p.initialValues(seed, values);
            all.put((int) offset, values);
            PtNDArray view = Ops.reshape(Ops.slice(flat, 0, offset, offset + p.numel()), p.shape());
            NDScope.unregister(view);
            JniUtils.attachGradient(view, !p.frozen()); // frozen: backward computes nothing for it
            p.bind(view, offset);
            offset += p.numel();
        }
    }

    /** {@code ordered} with its frozen parameters moved after the trainable ones, each kind in its given order. */
    private static List<Parameter> trainableFirst(List<Parameter> ordered) {
        List<Parameter> out = new ArrayList<>();
        ordered.stream().filter(p -> !p.frozen()).forEach(out::add);
        ordered.stream().filter(Parameter::frozen).forEach(out::add);
        return List.copyOf(out);
    }

    /**
     * Binds {@code replica} (a second instance of the same architecture) to the storage of {@code primary}:
     * its parameters are new views of the same flat buffer, so an update is seen by both, but each view
     * accumulates its own gradient. Worker threads of one rank each run a replica on part of the batch.
     */
    public ParameterStore(Module replica, ParameterStore primary) {
        this.manager = primary.manager.newSubManager();
        Map<String, Parameter> byName = new LinkedHashMap<>();
        for (Parameter p : replica.parameters()) {
            byName.put(p.name(), p);
        }
        List<Parameter> ordered = new ArrayList<>();
        for (Parameter source : primary.params) {
            Parameter p = byName.remove(source.name());
            if (p == null || !Arrays.equals(p.shape(), source.shape())) {
                throw new IllegalArgumentException("replica does not match: parameter " + source.name());
            }
            PtNDArray view = Ops.reshape(Ops.slice(primary.flat, 0, source.offset(), source.offset() + source.numel()),
                    p.shape());
            NDScope.unregister(view);
            if (source.frozen()) {
                p.freeze(); // a worker's replica trains exactly what the primary trains
            }
            JniUtils.attachGradient(view, !source.frozen());
            p.bind(view, source.offset());
            ordered.add(p);
        }
        if (!byName.isEmpty()) {
            throw new IllegalArgumentException("replica has extra parameters " + byName.keySet());
        }
        this.params = List.copyOf(ordered);
        this.flat = primary.flat;
        this.totalElements = primary.totalElements;
        this.decayElements = primary.decayElements;
        this.trainableElements = primary.trainableElements;
        this.trainableCount = primary.trainableCount;
    }

    @Override
    public List<Parameter> parameters() {
        return params;
    }

    /** The parameters that train (not frozen), in layout order: they occupy [0, {@link #trainableElements()}). */
    public List<Parameter> trainableParameters() {
        return params.subList(0, trainableCount);
    }

    /** Elements of the trainable parameters: the prefix of the flat buffer that has gradients and optimizer state. */
    public long trainableElements() {
        return trainableElements;
    }

    /** All parameter values, one contiguous tensor. */
    public PtNDArray flat() {
        return flat;
    }

    public long numel() {
        return totalElements;
    }

    /**
     * The ranges of the flat buffer that take weight decay, {from0, to0, from1, to1, ...}, merged where
     * adjacent.
     */
    public long[] decayRanges() {
        List<Long> r = new ArrayList<>();
        for (Parameter p : params) {
            if (!p.decay()) {
                continue;
            }
            long from = p.offset();
            long to = from + p.numel();
            if (!r.isEmpty() && r.get(r.size() - 1) == from) {
                r.set(r.size() - 1, to);
            } else {
                r.add(from);
                r.add(to);
            }
        }
        return r.stream().mapToLong(Long::longValue).toArray();
    }

    /** The parameter values as a zero-copy little-endian byte view of {@link #flat()}, for communication. */
    public ByteBuffer valueBytes() {
        return Ops.bytes(flat, true);
    }

    /** Number of decayed elements (all before the rest when built decay-first from a module with nothing frozen). */
    public long decayElements() {
        return decayElements;
    }

    public NDManager manager() {
        return manager;
    }

    /** The parameter values as a zero-copy float view of {@link #flat()} (writes update the model). */
    public FloatBuffer values() {
        return Ops.bytes(flat, true).asFloatBuffer();
    }

    /**
     * Copies the accumulated gradients into {@code dst} (flat, aligned with {@link #flat()}); a parameter
     * that received no gradient contributes zeros. One memcpy per parameter, no tensor allocated.
     */
    public void copyGradients(FloatBuffer dst) {
        if (dst.remaining() != totalElements) {
            throw new IllegalArgumentException("gradient buffer has " + dst.remaining() + " elements, need " + totalElements);
        }
        int base = dst.position();
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            PtNDArray g = gradView(i);
            FloatBuffer target = dst.duplicate().position(base + (int) p.offset()).limit(base + (int) (p.offset() + p.numel()));
            if (g == null) {
                while (target.hasRemaining()) {
                    target.put(0f);
                }
            } else {
                target.put(Ops.bytes(g, true).asFloatBuffer());
            }
        }
    }

    /**
     * Copies (or, with {@code add}, adds) the gradients of the parameters inside flat range [from, to)
     * into {@code dst}, element {@code from} landing at {@code dst}'s position. The range must start and
     * end at parameter boundaries (gradient buckets do).
     */
    public void gradientsOfRange(long from, long to, FloatBuffer dst, boolean add) {
        int base = dst.position();
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            long off = p.offset();
            if (off < from || off >= to) {
                continue;
            }
            if (off + p.numel() > to) {
                throw new IllegalArgumentException("range [" + from + ", " + to + ") cuts parameter " + p.name());
            }
            PtNDArray g = gradView(i);
            int at = base + (int) (off - from);
            int n = (int) p.numel();
            if (g == null) {
                if (!add) {
                    for (int j = 0; j < n; j++) {
                        dst.put(at + j, 0f);
                    }
                }
                continue;
            }
            FloatBuffer src = Ops.bytes(g, true).asFloatBuffer();
            if (!add) {
                dst.put(at, src, 0, n);
                continue;
            }
            for (int c = 0; c < n; c += ADD_CHUNK) {
                int len = Math.min(ADD_CHUNK, n - c);
                src.get(c, addA, 0, len);
                dst.get(at + c, addB, 0, len);
                for (int j = 0; j < len; j++) {
                    addB[j] += addA[j];
                }
                dst.put(at + c, addB, 0, len);
            }
        }
    }

    private static final int ADD_CHUNK = 4096;
    private final float[] addA = new float[ADD_CHUNK];
    private final float[] addB = new float[ADD_CHUNK];

    /** Adds the accumulated gradients to {@code dst} (flat, aligned with {@link #flat()}), element by element. */
    public void addGradients(FloatBuffer dst) {
        int base = dst.position();
        for (int i = 0; i < params.size(); i++) {
            PtNDArray g = gradView(i);
            if (g == null) {
                continue;
            }
            FloatBuffer src = Ops.bytes(g, true).asFloatBuffer();
            int off = base + (int) params.get(i).offset();
            int n = src.remaining();
            for (int from = 0; from < n; from += ADD_CHUNK) {
                int len = Math.min(ADD_CHUNK, n - from);
                src.get(from, addA, 0, len);
                dst.get(off + from, addB, 0, len);
                for (int j = 0; j < len; j++) { // bulk copies + a plain array loop: vectorised, unlike get/put
                    addB[j] += addA[j];
                }
                dst.put(off + from, addB, 0, len);
            }
        }
    }

    /** The gradient of parameter i, or null before its first backward. */
    private PtNDArray gradView(int i) {
        if (gradViews == null) {
            gradViews = new PtNDArray[params.size()];
        }
        if (gradViews[i] == null) {
            PtNDArray v = params.get(i).value();
            if (!v.hasGradient()) {
                return null;
            }
            PtNDArray g = JniUtils.getGradient(v);
            if (g == null) {
                return null; // requires a gradient, but no backward reached it yet
            }
            NDScope.unregister(g);
            gradViews[i] = g;
        }
        return gradViews[i];
    }

    /** The gradient of {@code p} as a tensor, or null if it has none yet. */
    public PtNDArray gradient(Parameter p) {
        return gradView(params.indexOf(p));
    }

    /**
     * Frees libtorch's gradient tensors of the trainable parameters inside flat range [from, to) (read them
     * first): each parameter gets a fresh view of the same storage, whose gradient the next backward allocates
     * (PyTorch's {@code zero_grad(set_to_none=True)}). A data-parallel rank copies a bucket's gradients into its
     * own buffer and frees them, so gradients cost 4 bytes per element between steps, not 8.
     */
    public void releaseGradients(long from, long to) {
        for (int i = 0; i < trainableCount; i++) {
            Parameter p = params.get(i);
            if (p.offset() < from || p.offset() >= to) {
                continue;
            }
            if (gradViews != null && gradViews[i] != null) {
                gradViews[i].close();
                gradViews[i] = null;
            }
            PtNDArray old = p.value();
            PtNDArray slice = Ops.slice(flat, 0, p.offset(), p.offset() + p.numel());
            PtNDArray view = Ops.reshape(slice, p.shape());
            slice.close(); // a handle only: the view keeps the storage
            NDScope.unregister(view);
            JniUtils.attachGradient(view, true);
            p.bind(view, p.offset());
            old.close();
        }
    }

    /** Zeroes every gradient in place (the gradient tensors are reused by the next backward). */
    public void zeroGradients() {
        for (int i = 0; i < params.size(); i++) {
            if (gradView(i) != null) {
                JniUtils.zeroGrad(params.get(i).value());
            }
        }
    }

    /** A copy of every parameter, by name, in store order. */
    public Map<String, HostTensor> toHost() {
        return slices(values(), "");
    }

    @Override
    public void copyValues(Predicate<Parameter> which, HostCopies out) {
        FloatBuffer values = values();
        for (Parameter p : params) {
            if (which.test(p)) {
                out.put(p.name(), p.shape(), values.duplicate().position((int) p.offset())
                        .limit((int) (p.offset() + p.numel())).slice());
            }
        }
    }

    /** Cuts a flat buffer aligned with this store into named host copies ({@code prefix + name}). */
    public Map<String, HostTensor> slices(FloatBuffer flatValues, String prefix) {
        return slices(flatValues, prefix, params);
    }

    /**
     * As {@link #slices(FloatBuffer, String)} for the trainable parameters only: {@code flatValues} may hold just
     * the trainable prefix (gradients, optimizer state).
     */
    public Map<String, HostTensor> trainableSlices(FloatBuffer flatValues, String prefix) {
        return slices(flatValues, prefix, trainableParameters());
    }

    private static Map<String, HostTensor> slices(FloatBuffer flatValues, String prefix, List<Parameter> which) {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (Parameter p : which) {
            float[] part = new float[(int) p.numel()];
            flatValues.get((int) p.offset(), part);
            out.put(prefix + p.name(), HostTensor.ofFloats(part, p.shape()));
        }
        return out;
    }

    /** Copies named host tensors into a flat buffer aligned with this store; every parameter must be present. */
    public void loadSlices(FloatBuffer flatValues, String prefix, Map<String, HostTensor> tensors) {
        loadSlices(flatValues, prefix, tensors, params);
    }

    /** As {@link #loadSlices} for the trainable parameters only (a buffer of the trainable prefix suffices). */
    public void loadTrainableSlices(FloatBuffer flatValues, String prefix, Map<String, HostTensor> tensors) {
        loadSlices(flatValues, prefix, tensors, trainableParameters());
    }

    private static void loadSlices(FloatBuffer flatValues, String prefix, Map<String, HostTensor> tensors,
            List<Parameter> which) {
        for (Parameter p : which) {
            HostTensor t = tensors.get(prefix + p.name());
            if (t == null) {
                throw new IllegalArgumentException("missing tensor " + prefix + p.name());
            }
            if (!Arrays.equals(t.shape(), p.shape()) || t.dtype() != HostTensor.DType.F32) {
                throw new IllegalArgumentException("tensor " + prefix + p.name() + " has shape "
                        + Arrays.toString(t.shape()) + " " + t.dtype() + ", expected "
                        + Arrays.toString(p.shape()) + " F32");
            }
            flatValues.put((int) p.offset(), t.toFloats());
        }
    }

    public void load(Map<String, HostTensor> state) {
        loadSlices(values(), "", state);
    }

    @Override
    public void close() {
        manager.close();
    }
}
