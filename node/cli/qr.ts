/** A link as a QR code for a terminal (qrcode-terminal, small mode: two rows per line). */
import qrcode from 'qrcode-terminal'

export async function qrString (text: string): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    try {
      qrcode.generate(text, { small: true }, code => { resolve(code) })
    } catch (err) {
      reject(err)
    }
  })
}
