// Apache Commons Net's FTPSClient against oxftpd: log in, PBSZ 0 / PROT P,
// upload, list, download, compare SHA-256. FTPSClient never resumes the
// control connection's TLS session on data connections, so this runs where
// require_session_reuse is "off" (for one account or one listener).
//
// Usage: java CommonsNetRoundTrip MODE PORT USER PASSWORD CA_FILE WORK_DIR
// MODE is explicit or implicit. Exits non-zero on any failure.

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.util.Arrays;
import javax.net.ssl.TrustManagerFactory;
import org.apache.commons.net.ftp.FTP;
import org.apache.commons.net.ftp.FTPFile;
import org.apache.commons.net.ftp.FTPReply;
import org.apache.commons.net.ftp.FTPSClient;

public class CommonsNetRoundTrip {
    static void check(boolean ok, String what, FTPSClient client) {
        if (!ok) {
            throw new IllegalStateException(what + " failed: " + client.getReplyString());
        }
    }

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        int port = Integer.parseInt(args[1]);
        String user = args[2], password = args[3], caFile = args[4];
        KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
        trust.load(null, null);
        try (FileInputStream in = new FileInputStream(caFile)) {
            trust.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);

        FTPSClient client = new FTPSClient(mode.equals("implicit"));
        client.setTrustManager(tmf.getTrustManagers()[0]);
        client.setConnectTimeout(20000);
        client.setDefaultTimeout(20000);
        client.connect("127.0.0.1", port);
        client.setSoTimeout(20000);
        check(FTPReply.isPositiveCompletion(client.getReplyCode()), "greeting", client);
        check(client.login(user, password), "login", client);
        client.execPBSZ(0);
        client.execPROT("P");
        client.enterLocalPassiveMode();
        check(client.setFileType(FTP.BINARY_FILE_TYPE), "TYPE I", client);

        byte[] payload = new byte[1024 * 1024 + 5];
        new SecureRandom().nextBytes(payload);
        String dir = "cn-" + mode + "-" + user;
        check(client.makeDirectory(dir), "MKD", client);
        check(client.storeFile(dir + "/payload.bin", new ByteArrayInputStream(payload)), "STOR", client);
        FTPFile[] listed = client.listFiles(dir);
        check(listed.length == 1 && listed[0].getName().equals("payload.bin"), "LIST " + Arrays.toString(listed), client);
        ByteArrayOutputStream back = new ByteArrayOutputStream();
        check(client.retrieveFile(dir + "/payload.bin", back), "RETR", client);
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        check(Arrays.equals(sha.digest(payload), MessageDigest.getInstance("SHA-256").digest(back.toByteArray())),
              "round trip digest", client);
        check(client.sendNoOp(), "NOOP after the transfers (replies in step)", client);
        client.logout();
        client.disconnect();
        System.out.println("round trip ok");
    }
}
