package io.megalith.parallel.transport.netty;

import com.esotericsoftware.kryo.kryo5.Kryo;
import com.esotericsoftware.kryo.kryo5.KryoException;
import com.esotericsoftware.kryo.kryo5.Registration;
import com.esotericsoftware.kryo.kryo5.Serializer;
import com.esotericsoftware.kryo.kryo5.io.Input;
import com.esotericsoftware.kryo.kryo5.io.Output;
import com.esotericsoftware.kryo.kryo5.util.DefaultClassResolver;
import com.esotericsoftware.kryo.kryo5.util.MapReferenceResolver;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import java.nio.charset.StandardCharsets;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * Kryo serialization of {@link Control} messages. Input comes from unauthenticated sockets, so:
 * registration is required and only the {@link Control} records are accepted on the wire (class names
 * and Kryo's built-in types are refused before any of their data is read), and every string and byte
 * array is read by hand with its length bounded by the bytes actually present: Kryo's stock serializers
 * allocate whatever length a hostile varint declares. Thread-safe (messages are few and tiny, so one
 * lock is enough).
 */
final class ControlCodec {
    /** No field of a control message is longer. */
    static final int MAX_FIELD_BYTES = 1024;

    private final Kryo kryo = new Kryo(new ControlTypesOnly(), new MapReferenceResolver());
    private final Output output = new Output(256, 64 << 10);

    ControlCodec() {
        kryo.setRegistrationRequired(true);
        kryo.setReferences(false);
        // explicit ids: both ends must agree whatever the registration order
        register(Control.Hello.class, 100, (o, m) -> {
            o.writeInt(m.version());
            writeString(o, m.jobId());
            o.writeInt(m.worldSize());
            o.writeInt(m.fromRank());
            o.writeInt(m.toRank());
            writeBytes(o, m.nonce());
        }, in -> new Control.Hello(in.readInt(), readString(in), in.readInt(), in.readInt(), in.readInt(), readBytes(in)));
        register(Control.Challenge.class, 101, (o, m) -> writeBytes(o, m.nonce()), in -> new Control.Challenge(readBytes(in)));
        register(Control.Proof.class, 102, (o, m) -> writeBytes(o, m.mac()), in -> new Control.Proof(readBytes(in)));
        register(Control.Accept.class, 103, (o, m) -> writeBytes(o, m.mac()), in -> new Control.Accept(readBytes(in)));
        register(Control.Reject.class, 104, (o, m) -> writeString(o, m.reason()), in -> new Control.Reject(readString(in)));
        register(Control.Goodbye.class, 105, (o, m) -> writeString(o, m.reason()), in -> new Control.Goodbye(readString(in)));
    }

    synchronized byte[] encode(Object message) {
        output.reset();
        kryo.writeClassAndObject(output, message);
        return output.toBytes();
    }

    /** Decodes a whole frame body (after the type byte); throws {@link KryoException} on anything malformed. */
    synchronized Object decode(ByteBuf body) {
        Input in = new Input(ByteBufUtil.getBytes(body));
        Object m = kryo.readClassAndObject(in);
        if (m == null) throw new KryoException("null control message");
        if (in.position() != in.limit()) throw new KryoException((in.limit() - in.position()) + " trailing bytes");
        return m;
    }

    private <T> void register(Class<T> type, int id, BiConsumer<Output, T> writer, Function<Input, T> reader) {
        kryo.register(type, new Serializer<T>() {
            @Override
            public void write(Kryo k, Output o, T m) {
                writer.accept(o, m);
            }

            @Override
            public T read(Kryo k, Input in, Class<? extends T> t) {
                return reader.apply(in);
            }
        }, id);
    }

    private static void writeBytes(Output o, byte[] b) {
        o.writeVarInt(b.length, true);
        o.writeBytes(b);
    }

    private static byte[] readBytes(Input in) {
        int n = in.readVarInt(true);
        if (n < 0 || n > MAX_FIELD_BYTES || n > in.limit() - in.position()) {
            throw new KryoException("field length " + n + " out of bounds");
        }
        return in.readBytes(n);
    }

    private static void writeString(Output o, String s) {
        writeBytes(o, s.getBytes(StandardCharsets.UTF_8));
    }

    private static String readString(Input in) {
        return new String(readBytes(in), StandardCharsets.UTF_8);
    }

    /**
     * Resolves only our own types. Class names are refused unread (a name on the wire is an attack or a
     * bug), and so are the types Kryo registers in every instance (String, int, ...): their stock readers
     * would allocate whatever length the payload declares.
     */
    private static final class ControlTypesOnly extends DefaultClassResolver {
        @Override
        protected Registration readName(Input input) {
            throw new KryoException("class names are not accepted");
        }

        @Override
        public Registration readClass(Input input) {
            Registration r = super.readClass(input);
            if (r != null && r.getType().getEnclosingClass() != Control.class) {
                throw new KryoException("not a control message: " + r.getType().getSimpleName());
            }
            return r;
        }
    }
}
